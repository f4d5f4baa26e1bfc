package observe

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracerName names Vibe Coder's spans' instrumentation scope.
const tracerName = "github.com/vibecoder/vibecoder"

// NewTracing returns the tracer provider for the process and the function that
// flushes and stops it. With endpoint set (OTEL_EXPORTER_OTLP_ENDPOINT, the OTLP/HTTP
// base URL such as http://collector:4318) spans are exported there in batches; with
// it empty, tracing is a no-op that costs nothing. Every exported span goes through
// red first, as every log line does.
func NewTracing(ctx context.Context, endpoint, service, version string, red *Redactor) (trace.TracerProvider, func(context.Context) error, error) {
	if endpoint == "" {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fmt.Errorf("tracing: OTLP endpoint must be an http(s) URL")
	}
	// The exporter takes a signal URL; the variable is the base the spec appends
	// /v1/traces to.
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: %w", err)
	}
	tp := NewTracerProvider(exp, service, version, red)
	return tp, tp.Shutdown, nil
}

// NewTracerProvider returns an SDK tracer provider that batches spans to exp after
// redacting them (tests pass tracetest's in-memory exporter).
func NewTracerProvider(exp sdktrace.SpanExporter, service, version string, red *Redactor) *sdktrace.TracerProvider {
	if service == "" {
		service = "vibecoder"
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", service), attribute.String("service.version", version)))
	if err != nil { // conflicting schema URLs: keep ours alone
		res = resource.NewSchemaless(attribute.String("service.name", service), attribute.String("service.version", version))
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(redactingExporter{SpanExporter: exp, red: red}),
		sdktrace.WithResource(res),
	)
}

// redactingExporter passes spans to the real exporter with every string attribute,
// event and status message redacted: a span records errors (an upstream's error body
// echoing a key, say) and goes to a third party just as a log line does.
type redactingExporter struct {
	sdktrace.SpanExporter
	red *Redactor
}

func (e redactingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.red == nil {
		return e.SpanExporter.ExportSpans(ctx, spans)
	}
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		// A span's fields are read-only; a stub is the SDK's way to make a changed copy.
		st := tracetest.SpanStubFromReadOnlySpan(s)
		st.Name = e.red.Redact(st.Name)
		st.Attributes = e.attrs(st.Attributes)
		st.Events = slices.Clone(st.Events)
		for j := range st.Events {
			st.Events[j].Name = e.red.Redact(st.Events[j].Name)
			st.Events[j].Attributes = e.attrs(st.Events[j].Attributes)
		}
		st.Links = slices.Clone(st.Links)
		for j := range st.Links {
			st.Links[j].Attributes = e.attrs(st.Links[j].Attributes)
		}
		st.Status.Description = e.red.Redact(st.Status.Description)
		out[i] = st.Snapshot()
	}
	return e.SpanExporter.ExportSpans(ctx, out)
}

func (e redactingExporter) attrs(in []attribute.KeyValue) []attribute.KeyValue {
	if len(in) == 0 {
		return in
	}
	out := make([]attribute.KeyValue, len(in))
	for i, kv := range in {
		switch {
		case sensitiveKeys[strings.ToLower(string(kv.Key))]:
			out[i] = kv.Key.String("[REDACTED]")
		case kv.Value.Type() == attribute.STRING:
			out[i] = kv.Key.String(e.red.Redact(kv.Value.AsString()))
		case kv.Value.Type() == attribute.STRINGSLICE:
			ss := slices.Clone(kv.Value.AsStringSlice())
			for j := range ss {
				ss[j] = e.red.Redact(ss[j])
			}
			out[i] = kv.Key.StringSlice(ss)
		default:
			out[i] = kv
		}
	}
	return out
}

type tracerProviderKey struct{}

// WithTracerProvider returns ctx carrying tp, for StartSpan below it: the process
// puts its provider in the context it serves and works jobs with.
func WithTracerProvider(ctx context.Context, tp trace.TracerProvider) context.Context {
	return context.WithValue(ctx, tracerProviderKey{}, tp)
}

// TracerProviderFrom returns the provider ctx carries, else that of the span ctx is
// in, else a no-op one.
func TracerProviderFrom(ctx context.Context) trace.TracerProvider {
	if tp, ok := ctx.Value(tracerProviderKey{}).(trace.TracerProvider); ok && tp != nil {
		return tp
	}
	if sp := trace.SpanFromContext(ctx); sp.SpanContext().IsValid() {
		return sp.TracerProvider()
	}
	return noop.NewTracerProvider()
}

// StartSpan starts a span named name as a child of the one in ctx (an LLM call within
// its request, a step within its job), with the request id, when ctx has one, among
// its attributes. End it with EndSpan. Without tracing configured it is a no-op.
func StartSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	tp, ok := ctx.Value(tracerProviderKey{}).(trace.TracerProvider)
	if !ok || tp == nil {
		tp = nil
		if sp := trace.SpanFromContext(ctx); sp.SpanContext().IsValid() {
			tp = sp.TracerProvider()
		}
	}
	if _, off := tp.(noop.TracerProvider); off || tp == nil {
		// No tracing: ctx's own (no-op) span will do, and nothing is allocated for a
		// span no one records (the gateway starts one per upstream call).
		return ctx, trace.SpanFromContext(ctx)
	}
	if id := RequestID(ctx); id != "" {
		attrs = append(slices.Clip(attrs), attribute.String("request_id", id))
	}
	return tp.Tracer(tracerName).Start(ctx, name, trace.WithAttributes(attrs...))
}

// EndSpan ends span, marking it failed with err when err is not nil.
func EndSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// TraceHTTP is middleware that makes a server span of every request, named by its
// route pattern ("GET /api/v1/projects/{id}", never the raw path), with the request id
// (from the context: the request-id middleware must run first) and the status.
//
// It belongs right around the ServeMux, inside any middleware that copies the request:
// the mux records the pattern on the request it is given, and TraceHTTP copies it back
// to its own caller's request so that middleware outside (the access log) still sees it.
//
// A traceparent header from the client is linked, not adopted as parent: an API
// caller must not decide whether, or into which trace, the server's spans go.
func TraceHTTP(tp trace.TracerProvider, next http.Handler) http.Handler {
	if tp == nil {
		return next
	}
	if _, off := tp.(noop.TracerProvider); off {
		return next
	}
	tracer := tp.Tracer(tracerName)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithNewRoot(),
			trace.WithAttributes(attribute.String("http.request.method", r.Method))}
		if id := RequestID(r.Context()); id != "" {
			opts = append(opts, trace.WithAttributes(attribute.String("request_id", id)))
		}
		remote := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
		if remote.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: remote}))
		}
		ctx, span := tracer.Start(WithTracerProvider(r.Context(), tp), r.Method, opts...)
		rec := &spanWriter{ResponseWriter: w}
		inner := r.WithContext(ctx)
		defer func() {
			if r.Pattern == "" {
				r.Pattern = inner.Pattern
			}
			if route := routeOf(inner.Pattern); route != "" {
				span.SetName(r.Method + " " + route)
				span.SetAttributes(attribute.String("http.route", route))
			}
			if v := recover(); v != nil {
				span.SetStatus(codes.Error, "panic")
				span.End()
				panic(v)
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			span.SetAttributes(attribute.Int("http.response.status_code", status))
			if status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			span.End()
		}()
		next.ServeHTTP(rec, inner)
	})
}

// routeOf is a ServeMux pattern's path template: "GET /x/{id}" gives "/x/{id}".
func routeOf(pattern string) string {
	if pattern == "" || pattern == "/" {
		return ""
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		pattern = path
	}
	return pattern
}

// spanWriter records the status for the span.
type spanWriter struct {
	http.ResponseWriter
	status int
}

func (s *spanWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *spanWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines (server-sent events).
func (s *spanWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

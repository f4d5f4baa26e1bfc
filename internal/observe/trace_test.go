package observe

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

const traceSecret = "sk-abcdefghijklmnop1234"

// tracedServer is a ServeMux behind request ids and TraceHTTP, as httpapi stacks them,
// exporting to memory. route records the pattern the outer middleware saw.
type tracedServer struct {
	tp    *sdktrace.TracerProvider
	spans *tracetest.InMemoryExporter
	h     http.Handler

	mu    sync.Mutex
	route string
}

func newTracedServer(t *testing.T) *tracedServer {
	t.Helper()
	ts := &tracedServer{spans: tracetest.NewInMemoryExporter()}
	ts.tp = NewTracerProvider(ts.spans, "vibecoder-test", "v0", NewRedactor([]string{"configured-secret-value"}))
	t.Cleanup(func() { _ = ts.tp.Shutdown(context.Background()) })

	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		ctx, span := StartSpan(r.Context(), "llm.chat", attribute.String("llm.model", "openai/gpt-4o-mini"))
		_ = ctx
		EndSpan(span, errors.New("upstream 401: incorrect API key "+traceSecret+" and configured-secret-value"))
		w.WriteHeader(http.StatusTeapot)
	})
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken", http.StatusBadGateway)
	})
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("handler bug") })
	traced := TraceHTTP(ts.tp, mux)
	ts.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(WithRequestID(r.Context(), "req-"+strings.TrimPrefix(r.URL.Path, "/")))
		func() {
			defer func() { _ = recover() }()
			traced.ServeHTTP(w, r)
		}()
		ts.mu.Lock()
		ts.route = r.Pattern
		ts.mu.Unlock()
	})
	return ts
}

func (ts *tracedServer) get(t *testing.T, path string, h http.Header) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	ts.h.ServeHTTP(httptest.NewRecorder(), req)
}

func (ts *tracedServer) ended(t *testing.T) tracetest.SpanStubs {
	t.Helper()
	if err := ts.tp.ForceFlush(context.Background()); err != nil {
		t.Fatalf("flush spans: %v", err)
	}
	return ts.spans.GetSpans()
}

func attr(s tracetest.SpanStub, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func TestTraceHTTPSpanPerRequest(t *testing.T) {
	ts := newTracedServer(t)
	remote := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	ts.get(t, "/items/42", http.Header{"Traceparent": {remote}})

	spans := ts.ended(t)
	if len(spans) != 2 {
		t.Fatalf("%d spans, want the request's and the LLM call's: %+v", len(spans), spans)
	}
	llm, srv := spans[0], spans[1] // ended first, ended last
	if srv.Name != "GET /items/{id}" || srv.SpanKind != trace.SpanKindServer {
		t.Errorf("server span %q (kind %v), want GET /items/{id}", srv.Name, srv.SpanKind)
	}
	for k, want := range map[string]any{"request_id": "req-items/42", "http.route": "/items/{id}",
		"http.request.method": "GET", "http.response.status_code": int64(http.StatusTeapot)} {
		if v, ok := attr(srv, k); !ok || v.AsInterface() != want {
			t.Errorf("server span %s = %v, want %v", k, v.AsInterface(), want)
		}
	}
	if srv.Parent.IsValid() || len(srv.Links) != 1 || srv.Links[0].SpanContext.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("client traceparent: parent %v, links %v; want a new root linked to it", srv.Parent, srv.Links)
	}
	if r := ts.route; r != "GET /items/{id}" {
		t.Errorf("middleware outside TraceHTTP saw pattern %q, want GET /items/{id}", r)
	}

	if llm.Name != "llm.chat" || llm.Parent.SpanID() != srv.SpanContext.SpanID() || llm.Parent.TraceID() != srv.SpanContext.TraceID() {
		t.Errorf("LLM span %q with parent %v, want llm.chat under the request's span %v", llm.Name, llm.Parent, srv.SpanContext)
	}
	if v, _ := attr(llm, "request_id"); v.AsString() != "req-items/42" {
		t.Errorf("LLM span request_id = %q", v.AsString())
	}
	if llm.Status.Code != codes.Error || len(llm.Events) != 1 {
		t.Errorf("LLM span status %v, events %v: want the error recorded", llm.Status, llm.Events)
	}
	all := llm.Status.Description
	for _, e := range llm.Events {
		for _, kv := range e.Attributes {
			all += " " + kv.Value.Emit()
		}
	}
	if !strings.Contains(all, "[REDACTED]") || strings.Contains(all, traceSecret) || strings.Contains(all, "configured-secret-value") {
		t.Errorf("exported error text not redacted: %s", all)
	}
}

func TestTraceHTTPStatusAndPanic(t *testing.T) {
	ts := newTracedServer(t)
	ts.get(t, "/boom", nil)
	ts.get(t, "/panic", nil)
	ts.get(t, "/nowhere", nil)
	spans := ts.ended(t)
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	want := []struct {
		name string
		code codes.Code
	}{{"GET /boom", codes.Error}, {"GET /panic", codes.Error}, {"GET", codes.Unset}}
	for i, w := range want {
		if spans[i].Name != w.name || spans[i].Status.Code != w.code {
			t.Errorf("span %d: %q status %v, want %q %v", i, spans[i].Name, spans[i].Status.Code, w.name, w.code)
		}
	}
	if _, ok := attr(spans[2], "http.route"); ok {
		t.Errorf("an unmatched request has an http.route")
	}
}

func TestTracingOffIsNoop(t *testing.T) {
	tp, shutdown, err := NewTracing(context.Background(), "", "vibecoder", "dev", NewRedactor(nil))
	if err != nil {
		t.Fatal(err)
	}
	var inRequest trace.SpanContext
	var child trace.Span
	h := TraceHTTP(tp, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inRequest = trace.SpanContextFromContext(r.Context())
		_, child = StartSpan(WithRequestID(r.Context(), "x"), "llm.chat")
		EndSpan(child, errors.New("failed"))
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if inRequest.IsValid() || child.IsRecording() || child.SpanContext().IsValid() {
		t.Errorf("tracing off: request span %v, child recording %v", inRequest, child.IsRecording())
	}
	// Outside any request (a job without a provider in its context) too.
	if _, sp := StartSpan(context.Background(), "job"); sp.IsRecording() {
		t.Errorf("a span without a provider records")
	}
	if err := shutdown(context.Background()); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if _, _, err := NewTracing(context.Background(), "collector:4318", "vibecoder", "dev", nil); err == nil {
		t.Errorf("an endpoint without a scheme was accepted")
	}
}

func TestStartSpanFromContextProvider(t *testing.T) {
	// A job has no request span; the provider comes from the context it is worked in.
	spans := tracetest.NewInMemoryExporter()
	tp := NewTracerProvider(spans, "", "", nil)
	defer tp.Shutdown(context.Background())
	ctx := WithTracerProvider(context.Background(), tp)
	ctx, job := StartSpan(ctx, "job pipeline.plan", attribute.String("job.kind", "pipeline.plan"))
	_, step := StartSpan(ctx, "llm.chat")
	EndSpan(step, nil)
	EndSpan(job, nil)
	_ = tp.ForceFlush(context.Background())
	got := spans.GetSpans()
	if len(got) != 2 || got[0].Parent.SpanID() != got[1].SpanContext.SpanID() {
		t.Fatalf("spans %+v, want llm.chat under the job's span", got)
	}
	if v, _ := attr(got[1], "job.kind"); v.AsString() != "pipeline.plan" {
		t.Errorf("job span attributes %v", got[1].Attributes)
	}
}

func TestNewTracingExportsOTLP(t *testing.T) {
	// A local collector: OTLP/HTTP, protobuf, at <endpoint>/v1/traces.
	var mu sync.Mutex
	var got []*coltrace.ExportTraceServiceRequest
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("collector: %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		req := &coltrace.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(body, req); err != nil {
			t.Errorf("collector: %v", err)
		}
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()

	tp, shutdown, err := NewTracing(context.Background(), collector.URL, "vibecoder-test", "v1.2.3", NewRedactor(nil))
	if err != nil {
		t.Fatal(err)
	}
	h := TraceHTTP(tp, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, sp := StartSpan(r.Context(), "llm.chat")
		EndSpan(sp, errors.New("key "+traceSecret+" refused"))
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil).WithContext(WithRequestID(context.Background(), "rid-1")))
	if err := shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	var names []string
	var text strings.Builder
	for _, req := range got {
		text.WriteString(req.String())
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					names = append(names, s.Name)
				}
			}
		}
	}
	if len(names) != 2 {
		t.Fatalf("collector received spans %v, want 2", names)
	}
	for _, want := range []string{"vibecoder-test", "v1.2.3", "rid-1", "[REDACTED]"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("export lacks %q", want)
		}
	}
	if strings.Contains(text.String(), traceSecret) {
		t.Errorf("the exported spans hold the secret")
	}
}

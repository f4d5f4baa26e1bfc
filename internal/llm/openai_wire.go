package llm

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/vibecoder/vibecoder/internal/llm/openaiwire"
)

// The non-streaming chat completion is the gateway's hot path. openai-go builds its
// body by reflection over ChatCompletionNewParams (with union and "omitzero" handling)
// and decodes the answer into ChatCompletion through its own reflective decoder: about
// 150 µs of CPU per call between them, more than everything else the gateway does for
// a request. So the adapter has openaiwire encode the body and decode the answer into
// the few fields we use, and sends the body as the SDK's client sends a request —
// with the URL, headers and authentication the SDK built once, through the same
// transport, with its origin check and error type (openai_post.go). Stream sends the
// same body with the stream fields; one encoder serves both.
// TestOpenAIWireMatchesSDK keeps the body equivalent, as JSON, to the one the SDK
// builds from the same request through its own parameter types.

// chatBody checks req and returns its chat completions request body (appendChatBody),
// streamed or not.
func (p *openAIProvider) chatBody(req *Request, stream bool) ([]byte, error) {
	if err := checkRequest(p.name, req, true); err != nil {
		return nil, err
	}
	if _, err := parseResponseFormat(p.name, req.ResponseFormat); err != nil {
		return nil, err
	}
	return p.appendChatBody(make([]byte, 0, 512+requestTextLen(req)), req, stream)
}

// appendChatBody appends the chat completions request body for req: the JSON object
// openai-go builds from ChatCompletionNewParams, with response_format, tools and Extra
// set at the top level (an Extra key replaces a field of the same name). A stream asks
// for usage in its last chunk (stream_options.include_usage), without which OpenAI
// sends none.
func (p *openAIProvider) appendChatBody(b []byte, req *Request, stream bool) ([]byte, error) {
	w := openaiwire.ChatRequest{Model: req.Model, Temperature: req.Temperature, TopP: req.TopP, Seed: req.Seed, Stop: req.Stop,
		ResponseFormat: req.ResponseFormat, Tools: req.Tools, Extra: req.Extra, Messages: make([]openaiwire.Message, len(req.Messages))}
	for i, m := range req.Messages {
		role := m.Role
		if role == RoleDeveloper && p.kind != kindOpenAI {
			role = RoleSystem // other servers do not know the newer name
		}
		w.Messages[i] = openaiwire.Message{Role: role, Content: m.Content, ToolCalls: m.ToolCalls, ToolCallID: m.ToolCallID}
	}
	if req.MaxTokens > 0 {
		if p.kind == kindOpenAI {
			// OpenAI deprecated max_tokens and its reasoning models reject it; compatible
			// servers mostly only know max_tokens.
			w.MaxCompletionTokens = &req.MaxTokens
		} else {
			w.MaxTokens = &req.MaxTokens
		}
	}
	if stream {
		w.Stream, w.StreamOptions = true, json.RawMessage(`{"include_usage":true}`)
	}
	out, err := openaiwire.AppendChatRequest(b, &w)
	if err != nil {
		return nil, newError(p.name, http.StatusBadRequest, TypeInvalidRequest, err.Error())
	}
	return out, nil
}

// decodeChatResponse turns a chat completion body into a Response (see
// openaiwire.DecodeChatCompletion); a body that is not one is a bad upstream response.
func (p *openAIProvider) decodeChatResponse(body []byte) (*Response, error) {
	c, err := openaiwire.DecodeChatCompletion(body)
	switch {
	case errors.Is(err, openaiwire.ErrNoChoices):
		return nil, newError(p.name, http.StatusBadGateway, TypeBadUpstreamResponse, "upstream response has no choices")
	case err != nil:
		return nil, newError(p.name, http.StatusBadGateway, TypeBadUpstreamResponse, "upstream sent a malformed response: "+err.Error())
	}
	ch := &c.Choices[0]
	out := &Response{ID: c.ID, Model: c.Model, FinishReason: ch.FinishReason, ToolCalls: ch.Message.ToolCalls,
		Usage: Usage{PromptTokens: c.Usage.PromptTokens, CompletionTokens: c.Usage.CompletionTokens,
			CachedTokens: c.Usage.PromptTokensDetails.CachedTokens, TotalTokens: c.Usage.TotalTokens}}
	if ch.Message.Content != nil {
		out.Text = *ch.Message.Content
	}
	if out.Usage.TotalTokens == 0 {
		out.Usage.TotalTokens = out.Usage.PromptTokens + out.Usage.CompletionTokens
	}
	return out, nil
}

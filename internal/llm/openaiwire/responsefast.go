package openaiwire

import (
	"bytes"
	"encoding/json"
)

// decodeChatCompletionFast reads the common answer in one pass over body: an object
// with "id", "model", "choices" (the first: its "finish_reason" and its "message",
// whose "content" is a string or null and whose "tool_calls" any array), "usage" (the
// three counts as plain integers, "prompt_tokens_details" with "cached_tokens") and
// anything else skipped. It reports false, and the gjson path reads the answer,
// whenever it meets anything else: content as an array of parts, a count that is
// quoted, negative or not an integer, a field of the wrong type, an escaped key, no
// choice, nesting deeper than maxScanDepth, what is not valid JSON. Decoding by gjson
// took ~3 % of a cache-bypassed call's CPU. TestDecodeChatCompletionFastAgrees and
// FuzzDecodeChatCompletionFast hold it to the gjson path: what it accepts is valid
// JSON and reads as the gjson path reads it — the last id, model, usage and non-empty
// choices; within a usage object, the first of each count, as gjson's Get finds it.
func decodeChatCompletionFast(body []byte) (*ChatCompletion, bool) {
	s := scanner{d: body}
	out := &ChatCompletion{}
	var choice Choice
	have := false
	ok := s.object(func(key []byte) bool {
		ok := true
		switch string(key) {
		case "id":
			out.ID, ok = s.textOrNull()
		case "model":
			out.Model, ok = s.textOrNull()
		case "choices":
			if !s.at('[') {
				return false
			}
			first := true
			ok = s.array(func() bool {
				if !first {
					return s.skip()
				}
				first, have = false, true
				choice = Choice{}
				return s.choice(&choice)
			})
		case "usage":
			out.Usage = Usage{}
			ok = s.usage(&out.Usage)
		default:
			ok = s.skip()
		}
		return ok
	})
	s.ws()
	if !ok || s.i != len(s.d) || !have {
		return nil, false
	}
	out.Choices = []Choice{choice}
	return out, true
}

// choice reads an answer's choice (decodeChoice): its finish reason and message.
func (s *scanner) choice(ch *Choice) bool {
	if !s.at('{') {
		return false
	}
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "finish_reason":
			v, ok := s.textOrNull()
			ch.FinishReason = Finish(v)
			return ok
		case "message":
			ch.Message = AssistantMessage{}
			return s.null() || s.answerMessage(&ch.Message)
		}
		return s.skip()
	})
}

// answerMessage reads a choice's message: its text and tool calls.
func (s *scanner) answerMessage(m *AssistantMessage) bool {
	if !s.at('{') {
		return false
	}
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "content":
			text, ok := s.textOrNull() // an array of parts is the gjson path's
			m.Content = &text
			return ok
		case "tool_calls":
			if s.null() {
				return true
			}
			if !s.at('[') {
				return false
			}
			v, ok := s.value()
			if ok && bytes.TrimLeft(v[1:], " \t\r\n")[0] != ']' { // not empty
				m.ToolCalls = append(json.RawMessage(nil), v...)
			}
			return ok
		}
		return s.skip()
	})
}

// usage reads a usage object or null (decodeUsage), the first of each count; a
// repeated "prompt_tokens_details" is left to the gjson path.
func (s *scanner) usage(u *Usage) bool {
	if s.null() {
		return true
	}
	if !s.at('{') {
		return false
	}
	var seen [4]bool // prompt, completion, total, details
	return s.object(func(key []byte) bool {
		var n *int
		f := -1
		switch string(key) {
		case "prompt_tokens":
			n, f = &u.PromptTokens, 0
		case "completion_tokens":
			n, f = &u.CompletionTokens, 1
		case "total_tokens":
			n, f = &u.TotalTokens, 2
		case "prompt_tokens_details":
			f = 3
		}
		switch {
		case f == 3 && seen[f]:
			// gjson's Get looks for the cached count in every details object in
			// turn: left to it.
			return false
		case f < 0 || seen[f]:
			return s.skip()
		}
		seen[f] = true
		if n != nil {
			return s.count(n)
		}
		if s.null() {
			return true
		}
		if !s.at('{') {
			return false
		}
		cached := false
		return s.object(func(key []byte) bool {
			if string(key) != "cached_tokens" || cached {
				return s.skip()
			}
			cached = true
			return s.count(&u.PromptTokensDetails.CachedTokens)
		})
	})
}

// count reads a token count: a plain integer of up to 15 digits, or null (0).
func (s *scanner) count(n *int) bool {
	if s.null() {
		*n = 0
		return true
	}
	t, ok := s.numberText()
	if !ok || len(t) > 15 || t[0] == '-' || bytes.ContainsAny(t, ".eE") {
		return false
	}
	*n = 0
	for _, c := range t {
		*n = *n*10 + int(c-'0')
	}
	return true
}

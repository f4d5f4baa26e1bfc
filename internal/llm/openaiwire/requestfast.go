package openaiwire

import (
	"encoding/json"
	"strconv"
)

// decodeChatRequestFast reads the common chat request in one pass over data, which
// must be valid UTF-8: an object of the fields ChatRequest names, messages whose
// content is a string, null or text parts, and other fields as Extra (decoded by
// encoding/json, as the gjson path decodes them). It reports false, and the gjson path
// reads the body, whenever it meets anything else: a content part not of type "text"
// (or not an object), a field of the wrong type, an escaped key, an integer field that
// is not an integer, a stop that is not strings, nesting deeper than maxScanDepth,
// invalid JSON, a body that is not an object. Validation and decoding by gjson took
// ~2.6 % of a cache-bypassed call's CPU and ~5.8 % of a cache hit's.
// TestDecodeChatRequestFastAgrees and FuzzDecodeChatRequestFast hold it to the gjson
// path: what it accepts is valid JSON and decodes to the same request (the last of a
// repeated key wins, as there).
func decodeChatRequestFast(data []byte) (*ChatRequest, bool) {
	s := scanner{d: data}
	in := &ChatRequest{}
	if !s.object(func(key []byte) bool { return s.requestField(in, key) }) {
		return nil, false
	}
	s.ws()
	return in, s.i == len(s.d)
}

// requestField reads the value of the top-level field key into in (ChatRequest.set).
func (s *scanner) requestField(in *ChatRequest, key []byte) bool {
	ok := true
	switch string(key) {
	case "model":
		in.Model, ok = s.textOrNull()
	case "messages":
		in.Messages, ok = s.messages()
	case "max_tokens":
		in.MaxTokens, ok = s.intOrNull()
	case "max_completion_tokens":
		in.MaxCompletionTokens, ok = s.intOrNull()
	case "temperature":
		in.Temperature, ok = s.floatOrNull()
	case "top_p":
		in.TopP, ok = s.floatOrNull()
	case "stop":
		in.Stop, ok = s.stop()
	case "seed":
		in.Seed, ok = s.int64OrNull()
	case "stream":
		in.Stream, ok = s.boolOrNull()
	case "stream_options":
		in.StreamOptions, ok = s.rawCopy()
	case "response_format":
		in.ResponseFormat, ok = s.rawCopy()
	case "tools":
		in.Tools, ok = s.rawCopy()
	case "n":
		in.N, ok = s.intOrNull()
	case "user":
		in.User, ok = s.textOrNull()
	default:
		v, vok := s.value()
		var val any
		if !vok || json.Unmarshal(v, &val) != nil {
			return false
		}
		if in.Extra == nil {
			in.Extra = map[string]any{}
		}
		in.Extra[shared(key)] = val
	}
	return ok
}

// messages reads the messages array (null: none).
func (s *scanner) messages() ([]Message, bool) {
	if s.null() {
		return nil, true
	}
	if !s.at('[') {
		return nil, false
	}
	out := make([]Message, 0, 4)
	ok := s.array(func() bool {
		var m Message
		if !s.null() && !s.object(func(key []byte) bool { return s.messageField(&m, key) }) {
			return false
		}
		out = append(out, m)
		return true
	})
	return out, ok
}

// messageField reads the value of a message's field key into m (message).
func (s *scanner) messageField(m *Message, key []byte) bool {
	ok := true
	switch string(key) {
	case "role":
		m.Role, ok = s.textOrNull()
	case "content":
		if s.at('[') {
			m.Content, ok = s.textParts()
		} else {
			m.Content, ok = s.textOrNull()
		}
	case "tool_calls":
		m.ToolCalls, ok = s.rawCopy()
	case "tool_call_id":
		m.ToolCallID, ok = s.textOrNull()
	case "name":
		m.Name, ok = s.textOrNull()
	default:
		ok = s.skip()
	}
	return ok
}

// textParts reads content as an array of text parts (content): their texts joined.
// A part of another type, or one that is not an object, is the gjson path's (its
// error).
func (s *scanner) textParts() (string, bool) {
	var joined []byte
	var first string
	n := 0
	ok := s.array(func() bool {
		var typ, text string
		if !s.object(func(key []byte) bool {
			ok := true
			switch string(key) {
			case "type":
				typ, ok = s.textOrNull()
			case "text":
				text, ok = s.textOrNull()
			default:
				ok = s.skip()
			}
			return ok
		}) || typ != "text" {
			return false
		}
		switch n++; n {
		case 1:
			first = text
		case 2:
			joined = append(append(joined, first...), text...)
		default:
			joined = append(joined, text...)
		}
		return true
	})
	if n > 1 {
		first = shared(joined)
	}
	return first, ok
}

// stop reads a stop field: a string, strings and nulls (""), or null.
func (s *scanner) stop() ([]string, bool) {
	switch {
	case s.null():
		return nil, true
	case s.at('"'):
		v, ok := s.text()
		return []string{v}, ok
	case !s.at('['):
		return nil, false
	}
	out := []string{}
	ok := s.array(func() bool {
		v, ok := s.textOrNull()
		out = append(out, v)
		return ok
	})
	return out, ok
}

// int64OrNull reads an integer of int64 (strconv.ParseInt, as int64Ptr) or a null.
func (s *scanner) int64OrNull() (*int64, bool) {
	if s.null() {
		return nil, true
	}
	n, ok := s.integer()
	return &n, ok
}

// intOrNull reads an integer of int or a null (intPtr).
func (s *scanner) intOrNull() (*int, bool) {
	if s.null() {
		return nil, true
	}
	n, ok := s.integer()
	i := int(n)
	return &i, ok && int64(i) == n
}

func (s *scanner) integer() (int64, bool) {
	t, ok := s.numberText()
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(shared(t), 10, 64)
	return n, err == nil
}

// floatOrNull reads a number (strconv.ParseFloat, as floatPtr) or a null.
func (s *scanner) floatOrNull() (*float64, bool) {
	if s.null() {
		return nil, true
	}
	t, ok := s.numberText()
	if !ok {
		return nil, false
	}
	f, err := strconv.ParseFloat(shared(t), 64)
	return &f, err == nil
}

// boolOrNull reads true, false or null (false).
func (s *scanner) boolOrNull() (bool, bool) {
	s.ws()
	for _, lit := range []string{"true", "false"} {
		if len(s.d)-s.i >= len(lit) && string(s.d[s.i:s.i+len(lit)]) == lit {
			s.i += len(lit)
			return lit == "true", true
		}
	}
	return false, s.null()
}

// rawCopy reads any value and returns a copy of its text (raw: the gjson path's
// fields passed on as they came are copies too).
func (s *scanner) rawCopy() (json.RawMessage, bool) {
	v, ok := s.value()
	return append(json.RawMessage(nil), v...), ok
}

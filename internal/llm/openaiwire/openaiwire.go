// Package openaiwire is OpenAI's chat completions wire format, written once: the request
// and response types, decoding and validation of requests, and encoding of answers and
// stream chunks. The gateway's /v1 server (httpapi), the upstream OpenAI adapter (llm)
// and the fake OpenAI server (llmtest) all read and write the format through it.
//
// It depends on nothing of the gateway's own, so the provider-neutral llm package can
// build on it; converting to and from llm's types is the callers' business.
package openaiwire

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Message roles. RoleDeveloper is OpenAI's newer name for system instructions;
// RoleTool is a tool's result (with tool_call_id).
const (
	RoleSystem    = "system"
	RoleDeveloper = "developer"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// CheckRole reports an error for the i-th message's role unless it is one of the roles
// above. It is the one place roles are checked: the server's request validation and the
// adapters' (for callers that build requests themselves) both ask it.
func CheckRole(i int, role string) error {
	switch role {
	case RoleSystem, RoleDeveloper, RoleUser, RoleAssistant, RoleTool:
		return nil
	}
	return fmt.Errorf("messages[%d].role %q is not one of system, developer, user, assistant, tool", i, role)
}

// Finish reasons.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
)

// Finish is a finish reason as OpenAI spells it today: the deprecated "function_call"
// is "tool_calls".
func Finish(r string) string {
	if r == "function_call" {
		return FinishToolCalls
	}
	return r
}

// HasValue reports whether raw holds a value other than null or an empty array:
// whether a raw field such as tools or tool_calls is really there.
func HasValue(raw json.RawMessage) bool {
	s := string(raw)
	return len(raw) > 0 && s != "null" && s != "[]"
}

// jsonSafe[c] reports whether the ASCII byte c stands for itself in a JSON string
// as encoding/json writes it (HTML-escaped): not a control character, quote,
// backslash, '<', '>' or '&'. A table, as encoding/json's own, is what keeps the
// common case to one load and one branch per byte.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendJSONString appends s as a JSON string, byte for byte as encoding/json writes
// it (HTML characters and U+2028/U+2029 escaped too; invalid UTF-8 becomes U+FFFD).
// The gateway's hot paths encode with it instead of reflection.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

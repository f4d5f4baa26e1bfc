package store

import (
	"bytes"
	"encoding/json"
	"strings"
)

// NUL in stored text. PostgreSQL text and jsonb cannot hold U+0000 (SQLSTATE 22021 for text,
// 22P05 for jsonb, which refuses the JSON escape \u0000 as well), SQLite can, and model and test
// output sometimes carry it. The rule, applied by every dialect at its boundary through
// [Sanitize] so both store the same thing: U+0000 becomes U+FFFD (the replacement character),
// whether it comes as a byte in a string or as \u0000 in JSON. Nothing else changes.

// NULReplacement is what a NUL is stored as.
const NULReplacement = "\uFFFD"

// CleanText replaces every NUL byte in s with NULReplacement.
func CleanText(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", NULReplacement)
}

// CleanJSON replaces every \u0000 escape in the JSON text b with \ufffd, and any raw NUL byte
// (invalid JSON) with NULReplacement. An escaped backslash followed by "u0000" is text, not a
// NUL, and is kept. b is returned as is when there is nothing to replace.
func CleanJSON(b json.RawMessage) json.RawMessage {
	if bytes.IndexByte(b, 0) < 0 && !bytes.Contains(b, []byte(`\u0000`)) {
		return b
	}
	out := make(json.RawMessage, 0, len(b)+8)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == 0:
			out = append(out, NULReplacement...)
		case c == '\\' && i+1 < len(b):
			if b[i+1] == 'u' && i+6 <= len(b) && string(b[i+2:i+6]) == "0000" {
				out = append(out, `\ufffd`...)
				i += 5
				continue
			}
			out = append(out, c, b[i+1]) // the escape and what it escapes, so \\ is one unit
			i++
		default:
			out = append(out, c)
		}
	}
	return out
}

// Sanitize applies the NUL rule, in place, to the text and JSON fields of a row about to be
// written: *Task, *Execution, *Commit, *Review, *Event, *AuditEntry or []LLMUsage. Other
// values are left alone.
func Sanitize(v any) {
	switch r := v.(type) {
	case *Task:
		r.Title, r.Description = CleanText(r.Title), CleanText(r.Description)
	case *Execution:
		r.Step, r.Error, r.Details = CleanText(r.Step), CleanText(r.Error), CleanJSON(r.Details)
	case *Commit:
		r.Branch, r.Message, r.PRURL = CleanText(r.Branch), CleanText(r.Message), CleanText(r.PRURL)
		for i, f := range r.FilesChanged {
			r.FilesChanged[i] = CleanText(f)
		}
	case *Review:
		r.Summary = CleanText(r.Summary)
		for i := range r.Comments {
			r.Comments[i].Path, r.Comments[i].Body = CleanText(r.Comments[i].Path), CleanText(r.Comments[i].Body)
		}
	case *Event:
		r.Type, r.Data = CleanText(r.Type), CleanJSON(r.Data)
	case *AuditEntry:
		r.TargetType, r.TargetID = CleanText(r.TargetType), CleanText(r.TargetID)
		r.UserAgent, r.RequestID = CleanText(r.UserAgent), CleanText(r.RequestID)
		r.Metadata = CleanJSON(r.Metadata)
	case []LLMUsage:
		for i := range r {
			r[i].Provider, r[i].Model, r[i].Status = CleanText(r[i].Provider), CleanText(r[i].Model), CleanText(r[i].Status)
		}
	}
}

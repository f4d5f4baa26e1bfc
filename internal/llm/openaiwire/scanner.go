package openaiwire

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The one-pass decoders (chunkfast.go, requestfast.go, responsefast.go) read the
// common shapes of the wire format with a scanner and leave everything else to the
// gjson paths. What a scanner accepts is valid JSON by encoding/json's grammar (and by
// gjson's, which agree on valid UTF-8), so a decoder that accepts a body reads it as
// its gjson path reads it or hands it over: it never reports an error of its own.

// maxScanDepth is the nesting a scanner follows; a deeper body is left to the gjson
// paths, whose validity scans bound theirs (encoding/json's at 10,000), so a body
// nested deeper cannot exhaust the stack of the scanner's recursion.
const maxScanDepth = 100

// scanner walks JSON text; every method reports false on what it does not accept.
type scanner struct {
	d     []byte
	i     int
	depth int // of the objects and arrays being read
}

func (s *scanner) ws() {
	for s.i < len(s.d) {
		switch s.d[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// object reads an object, calling member with each key (unescaped keys only) with
// the scanner at the member's value, which member must consume.
func (s *scanner) object(member func(key []byte) bool) bool {
	s.ws()
	if s.i >= len(s.d) || s.d[s.i] != '{' || s.depth == maxScanDepth {
		return false
	}
	s.i++
	s.depth++
	s.ws()
	if s.i < len(s.d) && s.d[s.i] == '}' {
		s.i++
		s.depth--
		return true
	}
	for {
		s.ws()
		key, plain, ok := s.str()
		if !ok || !plain {
			return false
		}
		s.ws()
		if s.i >= len(s.d) || s.d[s.i] != ':' {
			return false
		}
		s.i++
		if !member(key) {
			return false
		}
		if end, ok := s.next('}'); !ok || end {
			s.depth--
			return ok
		}
	}
}

// array reads an array (the scanner at its '['), calling elem with the scanner at
// each element.
func (s *scanner) array(elem func() bool) bool {
	if s.depth == maxScanDepth {
		return false
	}
	s.i++ // '['
	s.depth++
	s.ws()
	if s.i < len(s.d) && s.d[s.i] == ']' {
		s.i++
		s.depth--
		return true
	}
	for {
		if !elem() {
			return false
		}
		if end, ok := s.next(']'); !ok || end {
			s.depth--
			return ok
		}
	}
}

// next reads what follows a member or an element: a comma (end false) or the
// container's closing bracket (end true); anything else is not ok.
func (s *scanner) next(closing byte) (end, ok bool) {
	s.ws()
	if s.i >= len(s.d) {
		return false, false
	}
	switch s.d[s.i] {
	case ',':
		s.i++
		return false, true
	case closing:
		s.i++
		return true, true
	default:
		return false, false
	}
}

// str reads a string, returning its bytes between the quotes and whether it has no
// escapes (only then are they its value).
func (s *scanner) str() (raw []byte, plain, ok bool) {
	if s.i >= len(s.d) || s.d[s.i] != '"' {
		return nil, false, false
	}
	start := s.i + 1
	plain = true
	for i := start; i < len(s.d); i++ {
		for i < len(s.d) && !strStop[s.d[i]] {
			i++
		}
		if i == len(s.d) {
			break
		}
		switch ch := s.d[i]; {
		case ch == '"':
			s.i = i + 1
			return s.d[start:i], plain, true
		case ch < ' ':
			return nil, false, false
		case ch == '\\':
			plain = false
			i++
			if i >= len(s.d) {
				return nil, false, false
			}
			switch s.d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.d) || !ishex(s.d[i+1]) || !ishex(s.d[i+2]) || !ishex(s.d[i+3]) || !ishex(s.d[i+4]) {
					return nil, false, false
				}
				i += 4
			default:
				return nil, false, false
			}
		}
	}
	return nil, false, false
}

// strStop[c] reports whether str must look at c: a quote, a backslash or a control
// character. A table keeps the loop over the rest of a string to one load and one
// branch a byte.
var strStop = func() (t [256]bool) {
	for c := range ' ' {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

func ishex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// skip reads any value.
func (s *scanner) skip() bool {
	s.ws()
	if s.i >= len(s.d) {
		return false
	}
	switch ch := s.d[s.i]; {
	case ch == '{':
		return s.object(func([]byte) bool { return s.skip() })
	case ch == '[':
		return s.array(s.skip)
	case ch == '"':
		_, _, ok := s.str()
		return ok
	case ch == '-' || ch >= '0' && ch <= '9':
		return s.number()
	}
	for _, lit := range []string{"true", "false", "null"} {
		if len(s.d)-s.i >= len(lit) && string(s.d[s.i:s.i+len(lit)]) == lit {
			s.i += len(lit)
			return true
		}
	}
	return false
}

// number reads a number by JSON's grammar.
func (s *scanner) number() bool {
	digits := func() int {
		start := s.i
		for s.i < len(s.d) && s.d[s.i] >= '0' && s.d[s.i] <= '9' {
			s.i++
		}
		return s.i - start
	}
	if s.d[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.d) && s.d[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return false
	}
	if s.i < len(s.d) && s.d[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return false
		}
	}
	if s.i < len(s.d) && (s.d[s.i] == 'e' || s.d[s.i] == 'E') {
		s.i++
		if s.i < len(s.d) && (s.d[s.i] == '+' || s.d[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// at reports whether the next value (after white space) begins with c.
func (s *scanner) at(c byte) bool {
	s.ws()
	return s.i < len(s.d) && s.d[s.i] == c
}

// null reads a null if one is next.
func (s *scanner) null() bool {
	s.ws()
	if len(s.d)-s.i >= 4 && string(s.d[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// text reads a string's value: a plain string shares data (as parseShared's values
// do); an escaped one is unescaped as gjson unescapes.
func (s *scanner) text() (string, bool) {
	raw, plain, ok := s.str()
	switch {
	case !ok:
		return "", false
	case plain:
		return shared(raw), true
	}
	return unescape(raw), true
}

// textOrNull reads a string or a null (""): a field the gjson paths read as a string.
func (s *scanner) textOrNull() (string, bool) {
	if s.at('"') {
		return s.text()
	}
	return "", s.null()
}

// value reads any value and returns its text (without the white space around it).
func (s *scanner) value() ([]byte, bool) {
	s.ws()
	start := s.i
	ok := s.skip()
	return s.d[start:s.i], ok
}

// numberText reads a number and returns its text.
func (s *scanner) numberText() ([]byte, bool) {
	s.ws()
	if s.i >= len(s.d) || s.d[s.i] != '-' && (s.d[s.i] < '0' || s.d[s.i] > '9') {
		return nil, false
	}
	start := s.i
	ok := s.number()
	return s.d[start:s.i], ok
}

// shared is b as a string sharing its memory.
func shared(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// unescape is a string's value from its text between the quotes, which str has
// checked, exactly as gjson's unescape makes it: a surrogate pair's halves make their
// rune, and a surrogate that is not half of a valid pair becomes U+FFFD (a high
// surrogate followed by any \u escape takes that escape with it, as gjson's does).
func unescape(raw []byte) string {
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		j := bytes.IndexByte(raw[i:], '\\')
		if j < 0 {
			b = append(b, raw[i:]...)
			break
		}
		b = append(b, raw[i:i+j]...)
		i += j + 1
		switch c := raw[i]; c {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := hex4(raw[i+1:])
			i += 4
			if utf16.IsSurrogate(r) && len(raw)-(i+1) >= 6 && raw[i+1] == '\\' && raw[i+2] == 'u' {
				r = utf16.DecodeRune(r, hex4(raw[i+3:]))
				i += 6
			}
			b = utf8.AppendRune(b, r)
		default: // '"', '\\', '/'
			b = append(b, c)
		}
	}
	return shared(b)
}

// hex4 is the value of the four hex digits b begins with.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

package openaiwire

import "unsafe"

// decodeFast reads the common text chunk in one pass over data, with no gjson: an
// object whose members are "id", "model", "choices" (objects with "index", "delta"
// holding "content" or "role", "finish_reason", anything else skipped), a null
// "usage" and any other member skipped. It reports false, having decoded nothing
// that counts, whenever it meets anything else — an "error" member, a "usage" that
// is an object, "tool_calls", an escape in a string it keeps or in a key, an index
// other than a plain integer — and the gjson path then reads the chunk: decoding by
// gjson took a sixth of a 50-chunk stream's CPU. What it accepts it accepts only as
// valid JSON (by gjson's rules: TestDecodeFastAgrees and FuzzDecodeFast hold the two
// together), and it reads it as the gjson path does: the last id, model and choices
// win; within a choice and its delta, the first of each member.
func (c *StreamChunk) decodeFast(data []byte) bool {
	s := scanner{d: data}
	if !s.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			v, ok := s.lenientString()
			c.ID = v
			return ok
		case "model":
			v, ok := s.lenientString()
			c.Model = v
			return ok
		case "choices":
			return s.choices(c)
		case "usage":
			// null in every chunk but the last when usage is asked for; the usage
			// itself (an object) is read by the gjson path.
			s.ws()
			c.Usage = nil
			return s.i < len(s.d) && s.d[s.i] != '{' && s.skip()
		case "error":
			return false
		}
		return s.skip()
	}) {
		return false
	}
	s.ws()
	return s.i == len(s.d)
}

// choices reads the choices array, keeping the deltas of index 0.
func (s *scanner) choices(c *StreamChunk) bool {
	c.Deltas = c.Deltas[:0]
	s.ws()
	if s.i >= len(s.d) || s.d[s.i] != '[' {
		return false // the gjson path reads an object's members as choices
	}
	return s.array(func() bool {
		s.ws()
		if s.i >= len(s.d) || s.d[s.i] != '{' {
			return s.skip()
		}
		var d StreamDelta
		var seen [3]bool // index, finish_reason, delta
		index := int64(0)
		ok := s.object(func(key []byte) bool {
			f := -1
			switch string(key) {
			case "index":
				f = 0
			case "finish_reason":
				f = 1
			case "delta":
				f = 2
			}
			if f < 0 || seen[f] {
				return s.skip()
			}
			seen[f] = true
			switch f {
			case 0:
				n, ok := s.smallInt()
				index = n
				return ok
			case 1:
				v, ok := s.lenientString()
				d.FinishReason = v
				return ok
			}
			return s.delta(&d)
		})
		if ok && index == 0 {
			c.Deltas = append(c.Deltas, d)
		}
		return ok
	})
}

// delta reads a choice's delta: its content (the first), any role; tool calls are
// left to the gjson path.
func (s *scanner) delta(d *StreamDelta) bool {
	s.ws()
	if s.i >= len(s.d) || s.d[s.i] != '{' {
		return s.skip()
	}
	seen := false
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "content":
			if seen {
				return s.skip()
			}
			seen = true
			v, ok := s.lenientString()
			d.Content = v
			return ok
		case "tool_calls":
			return false
		}
		return s.skip()
	})
}

// scanner walks JSON text; every method reports false on what it does not accept.
type scanner struct {
	d []byte
	i int
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
	if s.i >= len(s.d) || s.d[s.i] != '{' {
		return false
	}
	s.i++
	s.ws()
	if s.i < len(s.d) && s.d[s.i] == '}' {
		s.i++
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
			return ok
		}
	}
}

// array reads an array, calling elem with the scanner at each element.
func (s *scanner) array(elem func() bool) bool {
	s.i++ // '['
	s.ws()
	if s.i < len(s.d) && s.d[s.i] == ']' {
		s.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		if end, ok := s.next(']'); !ok || end {
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

func ishex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// lenientString reads a value kept as a string: a plain string's value, or "" for a
// value of another type (as lenientString does); an escaped string is not accepted.
func (s *scanner) lenientString() (string, bool) {
	s.ws()
	if s.i < len(s.d) && s.d[s.i] == '"' {
		raw, plain, ok := s.str()
		if !ok || !plain {
			return "", false
		}
		if len(raw) == 0 {
			return "", true
		}
		return unsafe.String(&raw[0], len(raw)), true // shares data, as parseShared does
	}
	return "", s.skip()
}

// smallInt reads a choice index: a plain integer of up to nine digits.
func (s *scanner) smallInt() (int64, bool) {
	s.ws()
	start := s.i
	n := int64(0)
	for s.i < len(s.d) && s.d[s.i] >= '0' && s.d[s.i] <= '9' && s.i-start < 9 {
		n = n*10 + int64(s.d[s.i]-'0')
		s.i++
	}
	if s.i == start || s.d[start] == '0' && s.i-start > 1 || s.i < len(s.d) && (s.d[s.i] >= '0' && s.d[s.i] <= '9' || s.d[s.i] == '.' || s.d[s.i] == 'e' || s.d[s.i] == 'E') {
		return 0, false
	}
	return n, true
}

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

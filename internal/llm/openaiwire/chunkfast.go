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

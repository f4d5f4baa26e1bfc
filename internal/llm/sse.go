package llm

import (
	"bufio"
	"bytes"
	"io"
)

// sseReader reads the data of a server-sent event stream, event by event, the way
// openai-go's ssestream decoder reads it (lines end at \n, a trailing \r dropped;
// an event's data lines are joined, each followed by \n; an empty line ends an event
// that has data; comments and other fields are ignored; an event the stream ends in
// the middle of is dropped). It differs in what it costs: one bufio.Reader instead
// of a bufio.Scanner that grows per stream, an event of one data line whose end has
// arrived handed out where it lies in the read buffer instead of in a slice of its
// own, and it can say whether the next event has already arrived (more), so a
// caller can hold what it writes until it would wait.
type sseReader struct {
	br      *bufio.Reader
	scratch []byte // the data of an event that could not be handed out in place
	long    []byte // a line longer than br's buffer, gathered
	raw     []byte // the last line read, with its end
}

const (
	// sseReadBuffer is the size of the reader's buffer: several typical chunk events.
	sseReadBuffer = 8 << 10
	// maxEventData is the longest event (and line) read, as ssestream's scanner allows.
	maxEventData = bufio.MaxScanTokenSize << 9
)

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{br: bufio.NewReaderSize(r, sseReadBuffer)}
}

// next returns the next event's data, or the error that ended the stream (io.EOF at
// its end). The data is valid until the next call (or more): whatever is kept of it
// must be copied.
func (s *sseReader) next() ([]byte, error) {
	s.scratch = s.scratch[:0]
	hasData := false
	for {
		line, err := s.line()
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			if !hasData {
				continue
			}
			return s.scratch, nil
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		if string(name) != "data" {
			continue // a comment, the event's name or id, a retry interval
		}
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		if !hasData && len(s.long) == 0 && s.raw[len(s.raw)-1] == '\n' && len(line) == len(s.raw)-1 && s.endBuffered() {
			// The common event: one data line ending in \n, its blank line already
			// here. Its data, with the \n, is where it lies in the read buffer.
			return s.raw[len(s.raw)-1-len(value):], nil
		}
		if len(s.scratch)+len(value)+1 > maxEventData {
			return nil, bufio.ErrTooLong
		}
		s.scratch = append(append(s.scratch, value...), '\n')
		hasData = true
	}
}

// endBuffered reports whether an empty line is next and already read (without
// reading more, which could move the buffer), and if so consumes it.
func (s *sseReader) endBuffered() bool {
	b, _ := s.br.Peek(min(2, s.br.Buffered()))
	n := 0
	switch {
	case len(b) >= 1 && b[0] == '\n':
		n = 1
	case len(b) == 2 && b[0] == '\r' && b[1] == '\n':
		n = 2
	default:
		return false
	}
	_, _ = s.br.Discard(n)
	return true
}

// line reads one line without its end (\n, or \r\n). It is valid until the next read.
func (s *sseReader) line() ([]byte, error) {
	s.long = s.long[:0]
	line, err := s.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		s.long = append(s.long[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = s.br.ReadSlice('\n')
			s.long = append(s.long, line...)
			if len(s.long) > maxEventData {
				return nil, bufio.ErrTooLong
			}
		}
		line = s.long
	}
	if err != nil {
		// A line the stream ends in the middle of ends no event: dropped.
		return nil, err
	}
	s.raw = line
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// more reports whether a whole event with data has already arrived, so that next
// will return it without waiting for the upstream.
func (s *sseReader) more() bool {
	b, _ := s.br.Peek(s.br.Buffered())
	data := false
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return false
		}
		line := b[:i]
		b = b[i+1:]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		switch {
		case len(line) == 0:
			if data {
				return true
			}
		case bytes.HasPrefix(line, []byte("data")) && (len(line) == 4 || line[4] == ':'):
			data = true
		}
	}
}

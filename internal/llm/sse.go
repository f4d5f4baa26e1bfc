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
// of a bufio.Scanner that grows per stream, the data of many events in one block of
// memory instead of a slice per event, and it can say whether the next event has
// already arrived (more), so a caller can hold what it writes until it would wait.
type sseReader struct {
	br    *bufio.Reader
	block []byte // the data of events handed out, then the event being read
	long  []byte // a line longer than br's buffer, gathered
}

const (
	// sseReadBuffer is the size of the reader's buffer: several typical chunk events.
	sseReadBuffer = 8 << 10
	// sseBlock is the smallest block of event data allocated at once.
	sseBlock = 4 << 10
	// maxEventData is the longest event (and line) read, as ssestream's scanner allows.
	maxEventData = bufio.MaxScanTokenSize << 9
)

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{br: bufio.NewReaderSize(r, sseReadBuffer)}
}

// next returns the next event's data, or the error that ended the stream (io.EOF at
// its end). The data stays valid and unchanged for good: strings decoded from it may
// share its memory.
func (s *sseReader) next() ([]byte, error) {
	start := len(s.block)
	hasData := false
	for {
		line, err := s.line()
		if err != nil {
			s.block = s.block[:start]
			return nil, err
		}
		if len(line) == 0 {
			if !hasData {
				continue
			}
			end := len(s.block)
			return s.block[start:end:end], nil
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		if string(name) != "data" {
			continue // a comment, the event's name or id, a retry interval
		}
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		if end := len(s.block) - start + len(value) + 1; end > maxEventData {
			s.block = s.block[:start]
			return nil, bufio.ErrTooLong
		} else if len(s.block)+len(value)+1 > cap(s.block) {
			// A new block: the events handed out keep the old one.
			nb := make([]byte, 0, max(sseBlock, 2*end))
			s.block = append(nb, s.block[start:]...)
			start = 0
		}
		s.block = append(append(s.block, value...), '\n')
		hasData = true
	}
}

// line reads one line without its end (\n, or \r\n). It is valid until the next read.
func (s *sseReader) line() ([]byte, error) {
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

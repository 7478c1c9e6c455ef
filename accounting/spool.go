package accounting

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// spool keeps the records the store would not take, in order, until it
// takes them again: a file (Config.Spool) that survives a restart, or
// memory.
type spool interface {
	// add appends records and returns how many it kept: all of them, or
	// as many as fit under its bound.
	add(cdrs []CDR) (kept int, err error)
	// peek returns up to n records from the head, the number of entries
	// they took (bad entries of a damaged file are skipped and counted)
	// and where the next one starts.
	peek(n int) (cdrs []CDR, entries int, next int64, err error)
	// commit removes the entries peek returned.
	commit(entries int, next int64) error
	// len returns the number of entries held.
	len() int
	close() error
}

// memSpool is the spool without a file: up to max records in memory,
// lost if the process ends before the store takes them.
type memSpool struct {
	recs []CDR
	max  int
}

func (m *memSpool) add(cdrs []CDR) (int, error) {
	n := min(len(cdrs), m.max-len(m.recs))
	if n <= 0 {
		return 0, nil
	}
	m.recs = append(m.recs, cdrs[:n]...)
	return n, nil
}

func (m *memSpool) peek(n int) ([]CDR, int, int64, error) {
	n = min(n, len(m.recs))
	return m.recs[:n:n], n, 0, nil
}

func (m *memSpool) commit(entries int, _ int64) error {
	m.recs = m.recs[entries:]
	if len(m.recs) == 0 {
		m.recs = nil
	}
	return nil
}

func (m *memSpool) len() int     { return len(m.recs) }
func (m *memSpool) close() error { return nil }

// The spool file starts with a header line naming the format and the
// offset of the first record not yet written to the store, rewritten in
// place as records leave; records follow, one JSON object a line.
const (
	spoolMagic  = "PALIOCDRSPOOL1 "
	spoolHeader = int64(len(spoolMagic) + 20 + 1)
)

// fileSpool is the spool in a file: appended and synced a batch at a
// time, bounded in size.
type fileSpool struct {
	f          *os.File
	path       string
	max        int64
	head, tail int64 // the first record not yet written, the end of the file
	n          int   // records between head and tail
}

// openFileSpool opens (creating it if need be) the spool file at path,
// bounded to max bytes. A last line cut short (the process died while
// appending it) is removed; lost says whether there was one.
func openFileSpool(path string, max int64) (s *fileSpool, lost bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("accounting: spool: %w", err)
	}
	s = &fileSpool{f: f, path: path, max: max}
	if lost, err = s.load(); err != nil {
		f.Close()
		return nil, false, err
	}
	return s, lost, nil
}

func (s *fileSpool) load() (lost bool, err error) {
	st, err := s.f.Stat()
	if err != nil {
		return false, fmt.Errorf("accounting: spool: %w", err)
	}
	if st.Size() == 0 {
		s.head, s.tail = spoolHeader, spoolHeader
		return false, s.writeHeader()
	}
	hdr := make([]byte, spoolHeader)
	if _, err := s.f.ReadAt(hdr, 0); err != nil || !bytes.HasPrefix(hdr, []byte(spoolMagic)) || hdr[len(hdr)-1] != '\n' {
		return false, fmt.Errorf("accounting: spool %s: not a CDR spool file (move it away to start a new one)", s.path)
	}
	head, err := strconv.ParseInt(string(hdr[len(spoolMagic):len(hdr)-1]), 10, 64)
	if err != nil || head < spoolHeader || head > st.Size() {
		return false, fmt.Errorf("accounting: spool %s: damaged header (move it away to start a new one)", s.path)
	}
	s.head, s.tail = head, st.Size()
	// Count the records, and find where the last whole line ends.
	r := bufio.NewReader(io.NewSectionReader(s.f, s.head, s.tail-s.head))
	end := s.head
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: read the rest of it.
			rest, err2 := r.ReadBytes('\n')
			line, err = append(line, rest...), err2
		}
		if err != nil {
			if len(line) > 0 {
				lost = true
			}
			break
		}
		end += int64(len(line))
		s.n++
	}
	if end != s.tail {
		if err := s.f.Truncate(end); err != nil {
			return lost, fmt.Errorf("accounting: spool: %w", err)
		}
		s.tail = end
	}
	return lost, nil
}

func (s *fileSpool) writeHeader() error {
	hdr := fmt.Sprintf("%s%020d\n", spoolMagic, s.head)
	if _, err := s.f.WriteAt([]byte(hdr), 0); err != nil {
		return fmt.Errorf("accounting: spool: %w", err)
	}
	return nil
}

func (s *fileSpool) add(cdrs []CDR) (int, error) {
	var buf bytes.Buffer
	kept := 0
	for _, c := range cdrs {
		line, err := json.Marshal(c)
		if err != nil {
			return 0, fmt.Errorf("accounting: spool: %w", err)
		}
		if s.tail+int64(buf.Len()+len(line)+1) > s.max {
			break
		}
		buf.Write(line)
		buf.WriteByte('\n')
		kept++
	}
	if kept == 0 {
		return 0, nil
	}
	if _, err := s.f.WriteAt(buf.Bytes(), s.tail); err != nil {
		_ = s.f.Truncate(s.tail)
		return 0, fmt.Errorf("accounting: spool: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		_ = s.f.Truncate(s.tail)
		return 0, fmt.Errorf("accounting: spool: %w", err)
	}
	s.tail += int64(buf.Len())
	s.n += kept
	return kept, nil
}

func (s *fileSpool) peek(n int) ([]CDR, int, int64, error) {
	r := bufio.NewReader(io.NewSectionReader(s.f, s.head, s.tail-s.head))
	next := s.head
	var out []CDR
	entries := 0
	for len(out) < n && next < s.tail {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return out, entries, next, fmt.Errorf("accounting: spool %s: %w", s.path, err)
		}
		next += int64(len(line))
		entries++
		var c CDR
		if json.Unmarshal(line, &c) == nil {
			out = append(out, c)
		}
	}
	return out, entries, next, nil
}

func (s *fileSpool) commit(entries int, next int64) error {
	s.head = next
	s.n -= entries
	if s.head >= s.tail {
		// Empty: start the file over.
		if err := s.f.Truncate(spoolHeader); err != nil {
			return fmt.Errorf("accounting: spool: %w", err)
		}
		s.head, s.tail, s.n = spoolHeader, spoolHeader, 0
	}
	if err := s.writeHeader(); err != nil {
		return err
	}
	return s.f.Sync()
}

func (s *fileSpool) len() int     { return s.n }
func (s *fileSpool) close() error { return s.f.Close() }

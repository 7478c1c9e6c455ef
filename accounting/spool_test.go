package accounting

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func spoolRecords(n int) []CDR {
	out := make([]CDR, n)
	for i := range out {
		out[i] = CDR{ID: fmt.Sprintf("%032d", i), CallID: fmt.Sprintf("c%d", i), Code: 200}
	}
	return out
}

// TestFileSpool: records appended are read back in order, a commit
// moves the head (kept in the header across a reopen), an empty spool
// starts the file over.
func TestFileSpool(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cdr.spool")
	s, lost, err := openFileSpool(path, 1<<20)
	if err != nil || lost {
		t.Fatal(err, lost)
	}
	if kept, err := s.add(spoolRecords(5)); kept != 5 || err != nil {
		t.Fatal(kept, err)
	}
	got, entries, next, err := s.peek(2)
	if err != nil || entries != 2 || len(got) != 2 || got[1].CallID != "c1" {
		t.Fatalf("peek: %v %d %v", got, entries, err)
	}
	if err := s.commit(entries, next); err != nil {
		t.Fatal(err)
	}
	s.close()
	s, lost, err = openFileSpool(path, 1<<20)
	if err != nil || lost || s.len() != 3 {
		t.Fatalf("reopened: len %d, lost %v, %v", s.len(), lost, err)
	}
	got, entries, next, _ = s.peek(10)
	if entries != 3 || got[0].CallID != "c2" {
		t.Fatalf("after reopening: %v", got)
	}
	if err := s.commit(entries, next); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Size() != spoolHeader || s.len() != 0 {
		t.Errorf("an empty spool: %d bytes, %d records", st.Size(), s.len())
	}
	s.close()
}

// TestFileSpoolDamage: a last line cut short by a crash is removed (and
// reported), a line that is not a record is skipped and counted as an
// entry, a file that is not a spool is refused.
func TestFileSpoolDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cdr.spool")
	s, _, err := openFileSpool(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	s.add(spoolRecords(2))
	s.close()
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("not json\n")
	f.WriteString(`{"id":"x","callid":"c9","sip_code":200}` + "\n")
	f.WriteString(`{"id":"cut short`)
	f.Close()
	s, lost, err := openFileSpool(path, 1<<20)
	if err != nil || !lost || s.len() != 4 {
		t.Fatalf("reopened: len %d, lost %v, %v", s.len(), lost, err)
	}
	got, entries, _, err := s.peek(10)
	if err != nil || entries != 4 || len(got) != 3 || got[2].CallID != "c9" {
		t.Fatalf("peek: %d entries, %+v, %v", entries, got, err)
	}
	s.close()

	other := filepath.Join(t.TempDir(), "other")
	os.WriteFile(other, []byte("hello\n"), 0o600)
	if _, _, err := openFileSpool(other, 1<<20); err == nil || !strings.Contains(err.Error(), "not a CDR spool") {
		t.Errorf("a file that is not a spool: %v", err)
	}
}

// TestFileSpoolBound: add keeps what fits under the bound.
func TestFileSpoolBound(t *testing.T) {
	s, _, err := openFileSpool(filepath.Join(t.TempDir(), "cdr.spool"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	kept, err := s.add(spoolRecords(100))
	if err != nil || kept == 0 || kept == 100 {
		t.Fatalf("kept %d of 100 in 4 KiB: %v", kept, err)
	}
	if more, _ := s.add(spoolRecords(1)); more != 0 {
		t.Errorf("a full spool took %d more", more)
	}
}

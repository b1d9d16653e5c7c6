package kmsg

import (
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/scxvm/scxvm/ktext"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		line string
		want Record
		err  bool
	}{
		{line: "6,339,5140900,-;NET: Registered protocol family 10",
			want: Record{Level: 6, Seq: 339, Time: 5140900 * time.Microsecond, Text: "NET: Registered protocol family 10"}},
		{line: "30,1,2,c,extra;cont; with semicolon",
			want: Record{Level: 6, Facility: 3, Seq: 1, Time: 2 * time.Microsecond, Cont: true, Text: "cont; with semicolon"}},
		{line: "3,7,0,-;", want: Record{Level: 3, Seq: 7}},
		{line: "no separator", err: true},
		{line: "6,1;x", err: true},
		{line: "x,1,2,-;x", err: true},
		{line: "6,-1,2,-;x", err: true},
		{line: "6,1,zz,-;x", err: true},
	}
	for _, tt := range tests {
		got, err := ParseRecord(tt.line)
		if tt.err {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseRecord(%q) err = %v, want ErrMalformed", tt.line, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseRecord(%q) = %+v, %v; want %+v", tt.line, got, err, tt.want)
		}
	}
}

func readAll(t *testing.T, r io.Reader) ([]Record, *Reader) {
	t.Helper()
	kr := NewReader(r)
	var recs []Record
	for {
		rec, err := kr.Next()
		if err == io.EOF {
			return recs, kr
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		recs = append(recs, rec)
	}
}

func TestReaderTestdata(t *testing.T) {
	b, err := os.ReadFile("testdata/stall.kmsg")
	if err != nil {
		t.Fatal(err)
	}
	// Whole stream at once, and one byte per Read: the same records.
	for name, r := range map[string]io.Reader{
		"whole":   strings.NewReader(string(b)),
		"onebyte": iotest.OneByteReader(strings.NewReader(string(b))),
	} {
		recs, _ := readAll(t, r)
		if len(recs) != 8 {
			t.Fatalf("%s: %d records, want 8 (dictionary lines skipped)", name, len(recs))
		}
		if recs[2].Text != `sched_ext: BPF scheduler "scxvm_stall" disabled (runnable task stall)` || recs[2].Level != 3 {
			t.Errorf("%s: record 2 = %+v", name, recs[2])
		}
		if !recs[5].Cont || recs[5].Text != "   process_one_work+0x176/0x330" {
			t.Errorf("%s: record 5 = %+v", name, recs[5])
		}
	}
}

func TestReaderLostAndEPIPE(t *testing.T) {
	// A device-like reader: one record per Read, EPIPE once in between.
	chunks := []any{"6,1,0,-;a\n", syscall.EPIPE, "6,5,0,-;b\n", "garbage\n", "6,6,0,-;c"}
	r := &chunkReader{chunks: chunks}
	recs, kr := readAll(t, r)
	if len(recs) != 3 || recs[2].Text != "c" {
		t.Fatalf("records = %+v", recs)
	}
	if kr.Lost != 3 {
		t.Errorf("Lost = %d, want 3", kr.Lost)
	}
}

type chunkReader struct{ chunks []any }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) < maxRecord {
		return 0, syscall.EINVAL // like /dev/kmsg with a short buffer
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	x := c.chunks[0]
	c.chunks = c.chunks[1:]
	if err, ok := x.(error); ok {
		return 0, err
	}
	return copy(p, x.(string)), nil
}

func TestReaderError(t *testing.T) {
	kr := NewReader(iotest.ErrReader(os.ErrClosed))
	if _, err := kr.Next(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Next err = %v, want ErrClosed", err)
	}
}

func FuzzReader(f *testing.F) {
	for _, name := range []string{"stall.kmsg", "error.kmsg", "sysrq.kmsg", "normal.kmsg"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		kr := NewReader(strings.NewReader(string(b)))
		for {
			rec, err := kr.Next()
			if err != nil {
				return
			}
			ktext.ParseSchedExt(rec.Text)
		}
	})
}

package agent

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/scxvm/scxvm/protocol"
)

// collect sends every directory of job.Collect to the host as FileData
// messages: directories and regular files (the rest is counted as
// skipped). Each send waits for the channel, so the agent holds one chunk
// at a time.
func (s *session) collect(job *protocol.Job) []protocol.CollectResult {
	var out []protocol.CollectResult
	for i, dir := range job.Collect {
		r := protocol.CollectResult{Dir: dir}
		if err := s.collectDir(job.ID, i, dir, &r); err != nil {
			r.Error = err.Error()
		}
		s.cfg.Logf("job %d: collected %s: %d files, %d bytes, %d skipped %s", job.ID, dir, r.Files, r.Bytes, r.Skipped, r.Error)
		out = append(out, r)
	}
	return out
}

func (s *session) collectDir(id uint32, index int, dir string, r *protocol.CollectResult) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("collect %s: not an absolute path", dir)
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("collect %s: no such directory in the guest", dir)
	case err != nil:
		return fmt.Errorf("collect %s: %w", dir, err)
	case !st.IsDir():
		return fmt.Errorf("collect %s: not a directory in the guest", dir)
	}
	var errs []error
	buf := make([]byte, protocol.MaxOutputChunk)
	walkErr := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		switch {
		case d.IsDir():
			s.send(&protocol.FileData{JobID: id, Dir: index, Path: rel, Mode: uint32(info.Mode().Perm()), IsDir: true})
		case info.Mode().IsRegular():
			n, err := s.sendFile(id, index, path, rel, uint32(info.Mode().Perm()), buf)
			r.Bytes += n
			r.Files++
			if err != nil {
				errs = append(errs, err)
			}
		default:
			r.Skipped++
		}
		return nil
	})
	if walkErr != nil {
		errs = append(errs, walkErr)
	}
	if len(errs) > 0 {
		return fmt.Errorf("collect %s: %w", dir, errors.Join(errs...))
	}
	return nil
}

// sendFile sends one regular file in chunks; an empty file is one empty
// chunk.
func (s *session) sendFile(id uint32, index int, path, rel string, mode uint32, buf []byte) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var off int64
	for {
		n, err := f.Read(buf)
		if n > 0 || off == 0 && err == io.EOF {
			s.send(&protocol.FileData{JobID: id, Dir: index, Path: rel, Mode: mode, Offset: off, Data: append([]byte(nil), buf[:n]...)})
			off += int64(n)
		}
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return off, fmt.Errorf("read %s: %w", path, err)
		}
	}
}

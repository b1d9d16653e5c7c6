package vmtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/kernel/fetch"
)

// EventFetch reports a step of fetching a kernel that was not in the cache
// (Message says which).
const EventFetch EventKind = "fetch"

// lookupKernel is kernel.Lookup, except that a kernel package fetch knows
// ("debian", "stock-6.12") that is not in the cache is fetched first, as
// `scxvm kernel fetch NAME` would, with each step reported as an
// EventFetch and logged.
func lookupKernel(ctx context.Context, cfg *Config, cacheDir string, start time.Time) (*kernel.Kernel, error) {
	name := cfg.kernelName()
	k, err := kernel.Lookup(cacheDir, name)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !slices.Contains(fetch.Names(), name) {
		return k, err
	}
	cfg.emit(Event{Kind: EventFetch, Elapsed: time.Since(start), Message: "kernel " + name + " is not in the cache " + cacheDir + ": fetching it (scxvm kernel fetch " + name + ")"})
	lines := &lineWriter{emit: func(line string) {
		cfg.logf("fetch %s: %s", name, line)
		cfg.emit(Event{Kind: EventFetch, Elapsed: time.Since(start), Message: line})
	}}
	if _, ferr := fetch.Fetch(ctx, name, fetch.Options{CacheDir: cacheDir, Log: lines}); ferr != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("kernel %q is not in the cache %s and fetching it failed: %w", name, cacheDir, ferr)
	}
	return kernel.Lookup(cacheDir, name)
}

// lineWriter calls emit with each complete line written to it.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if line := strings.TrimSpace(string(w.buf[:i])); line != "" {
			w.emit(line)
		}
		w.buf = w.buf[i+1:]
	}
}

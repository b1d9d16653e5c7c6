package vmtest

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestFetchOnFirstUse: a known kernel missing from the cache is fetched
// (here from a mirror that refuses connections: the error names the
// kernel, the step and the URL, and the fetch was announced).
func TestFetchOnFirstUse(t *testing.T) {
	t.Setenv("SCXVM_DEBIAN_MIRROR", "http://127.0.0.1:1/debian")
	var events []Event
	cache := t.TempDir()
	_, err := Run(context.Background(), Config{Kernel: "debian", CacheDir: cache, Progress: func(e Event) { events = append(events, e) }})
	var ie *InfraError
	if !errors.As(err, &ie) || ie.Op != "find kernel" {
		t.Fatalf("Run = %v, want an *InfraError finding the kernel", err)
	}
	for _, want := range []string{`kernel "debian" is not in the cache ` + cache + " and fetching it failed", "127.0.0.1:1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if len(events) == 0 || events[0].Kind != EventFetch || !strings.Contains(events[0].Message, "scxvm kernel fetch debian") {
		t.Errorf("events %+v, want an EventFetch announcing the fetch first", events)
	}

	// A name fetch does not know is not fetched: the cache error stays.
	events = nil
	_, err = Run(context.Background(), Config{Kernel: "6.12", CacheDir: cache, Progress: func(e Event) { events = append(events, e) }})
	if err == nil || !strings.Contains(err.Error(), "make kernel-build") || len(events) != 0 {
		t.Errorf("Run(6.12) = %v with events %+v, want the cache error and no fetch", err, events)
	}
}

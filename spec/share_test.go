package spec

import (
	"strings"
	"testing"
)

func TestParseShare(t *testing.T) {
	tests := []struct {
		in      string
		want    Share
		wantErr string
	}{
		{in: "src", want: Share{HostDir: "src"}},
		{in: "src:rw", want: Share{HostDir: "src", Writable: true}},
		{in: "src:ro", want: Share{HostDir: "src"}},
		{in: "/a/b=/mnt/b", want: Share{HostDir: "/a/b", GuestDir: "/mnt/b"}},
		{in: "/a/b=/mnt/b:rw", want: Share{HostDir: "/a/b", GuestDir: "/mnt/b", Writable: true}},
		{in: "/a:b/c", want: Share{HostDir: "/a:b/c"}},
		{in: "/a=/mnt/x:y:rw", want: Share{HostDir: "/a", GuestDir: "/mnt/x:y", Writable: true}},
		{in: "", wantErr: "want HOST_DIR"},
		{in: ":rw", wantErr: "want HOST_DIR"},
		{in: "=/mnt", wantErr: "want HOST_DIR"},
		{in: "src=", wantErr: "empty guest directory"},
		{in: "src=mnt/x", wantErr: "not absolute"},
		{in: "src=/", wantErr: "guest's root"},
		{in: "src=/proc/x", wantErr: "inside the guest's /proc"},
		{in: "src=/sys", wantErr: "inside the guest's /sys"},
		{in: "src=/dev/", wantErr: "inside the guest's /dev"},
		{in: "src=/devices", want: Share{HostDir: "src", GuestDir: "/devices"}},
	}
	for _, tt := range tests {
		got, err := ParseShare(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseShare(%q) = %+v, %v; want error with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseShare(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		again, err := ParseShare(got.String())
		if err != nil || again != got {
			t.Errorf("ParseShare(%q.String() = %q) = %+v, %v; want %+v", tt.in, got.String(), again, err, got)
		}
	}
}

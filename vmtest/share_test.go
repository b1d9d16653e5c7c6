package vmtest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/spec"
)

func TestConfigShares(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	tests := []struct {
		name    string
		shares  []spec.Share
		want    []spec.Share
		wantErr string
	}{
		{name: "default guest dir", shares: []spec.Share{{HostDir: "."}}, want: []spec.Share{{HostDir: dir, GuestDir: dir}}},
		{name: "named", shares: []spec.Share{{HostDir: dir, GuestDir: "/mnt/x/", Writable: true}}, want: []spec.Share{{HostDir: dir, GuestDir: "/mnt/x", Writable: true}}},
		{name: "missing", shares: []spec.Share{{HostDir: filepath.Join(dir, "nope")}}, wantErr: "nope: no such file or directory"},
		{name: "file", shares: []spec.Share{{HostDir: file}}, wantErr: "is not a directory"},
		{name: "relative guest", shares: []spec.Share{{HostDir: dir, GuestDir: "mnt"}}, wantErr: "not absolute"},
		{name: "twice", shares: []spec.Share{{HostDir: dir, GuestDir: "/a"}, {HostDir: ".", GuestDir: "/a/"}}, wantErr: "guest directory /a given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Shares: tt.shares}
			err := cfg.validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("validate = %v, want error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("validate: %v", err)
			}
			if got := cfg.resolvedShares(); !slices.Equal(got, tt.want) {
				t.Errorf("shares = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSelectModules(t *testing.T) {
	mods := []string{"/m/vsock.ko", "/m/vmw_vsock_virtio_transport.ko", "/m/9pnet.ko", "/m/9pnet_virtio.ko", "/m/netfs.ko", "/m/9p.ko"}
	for _, tt := range []struct {
		vsock, shares bool
		want          []string
	}{
		{false, false, nil},
		{true, false, mods[:2]},
		{false, true, mods[2:]},
		{true, true, mods},
	} {
		if got := selectModules(mods, tt.vsock, tt.shares); !slices.Equal(got, tt.want) {
			t.Errorf("selectModules(vsock %v, shares %v) = %q, want %q", tt.vsock, tt.shares, got, tt.want)
		}
	}
}

func TestCheckShares(t *testing.T) {
	share := &Config{Shares: []spec.Share{{HostDir: "/h"}}}
	for _, tt := range []struct {
		name    string
		kname   string
		config  kernel.Config
		modules []string
		wantErr string
	}{
		{name: "built in", config: kernel.Config{"CONFIG_9P_FS": "y", "CONFIG_NET_9P_VIRTIO": "y"}},
		{name: "modules", config: kernel.Config{"CONFIG_9P_FS": "m", "CONFIG_NET_9P_VIRTIO": "m"}, modules: []string{"/k/9pnet_virtio.ko", "/k/9p.ko"}},
		{name: "no 9p", config: kernel.Config{"CONFIG_NET_9P_VIRTIO": "y"}, wantErr: "CONFIG_9P_FS is not set"},
		{name: "no virtio transport", config: kernel.Config{"CONFIG_9P_FS": "y"}, wantErr: "CONFIG_NET_9P_VIRTIO is not set"},
		{name: "old debian cache", kname: "debian", config: kernel.Config{"CONFIG_9P_FS": "m", "CONFIG_NET_9P_VIRTIO": "m"}, wantErr: "scxvm kernel fetch debian"},
		{name: "tree with modules", kname: "/src/linux", config: kernel.Config{"CONFIG_9P_FS": "m", "CONFIG_NET_9P_VIRTIO": "y"}, wantErr: "build it in (CONFIG_9P_FS=y)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := &guest{kernel: &kernel.Kernel{Name: tt.kname, Modules: tt.modules}, info: &kernel.Info{Config: tt.config}}
			err := g.checkShares(share)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkShares = %v, want %q", err, tt.wantErr)
			}
		})
	}
	g := &guest{kernel: &kernel.Kernel{}, info: &kernel.Info{Config: kernel.Config{}}}
	if err := g.checkShares(&Config{}); err != nil {
		t.Errorf("checkShares without shares = %v", err)
	}
}

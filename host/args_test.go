package host

import (
	"slices"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// flagValues returns every value given to flag in args.
func flagValues(args []string, flag string) []string {
	var out []string
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			out = append(out, args[i+1])
		}
	}
	return out
}

func TestArgs(t *testing.T) {
	base := Config{Kernel: "/k/bzImage", Initramfs: "/k/initrd.cpio"}
	serial := Plan{Accel: AccelTCG, Transport: protocol.TransportVirtioSerial, ConsoleFD: 3, SerialFD: 4}
	tests := []struct {
		name string
		cfg  func(*Config)
		plan Plan
		want map[string][]string // flag -> all its values, in order
		not  []string            // flags that must not appear
	}{
		{
			name: "defaults",
			plan: serial,
			want: map[string][]string{
				"-machine": {"q35"},
				"-accel":   {"tcg,thread=single"},
				"-cpu":     {"max,vendor=GenuineIntel"},
				"-smp":     {"cpus=2,sockets=1,dies=1,cores=2,threads=1"},
				"-m":       {"1024"},
				"-kernel":  {"/k/bzImage"},
				"-initrd":  {"/k/initrd.cpio"},
				"-append":  {"console=ttyS0 panic=-1 nokaslr mitigations=off transparent_hugepage=madvise sysctl.kernel.sched_schedstats=1 no_timer_check quiet"},
				"-chardev": {"socket,id=con,fd=3", "socket,id=agent,fd=4"},
				"-serial":  {"chardev:con"},
				"-device":  {"virtio-serial-pci,id=vser", "virtserialport,bus=vser.0,chardev=agent,name=org.scxvm.0"},
				"-display": {"none"},
			},
			not: []string{"-numa", "-object", "-enable-kvm", "-net", "-nic"},
		},
		{
			name: "kvm",
			plan: Plan{Accel: AccelKVM, Transport: protocol.TransportVirtioSerial, ConsoleFD: 3, SerialFD: 4},
			want: map[string][]string{"-accel": {"kvm"}, "-cpu": {"host"}},
		},
		{
			name: "tcg multi-threaded",
			cfg:  func(c *Config) { c.TCGThread = TCGMulti },
			plan: serial,
			want: map[string][]string{"-accel": {"tcg,thread=multi"}},
		},
		{
			name: "numa 2x2x2 smt",
			cfg: func(c *Config) {
				c.Topology = spec.Topology{NUMANodes: 2, LLCs: 2, CoresPerLLC: 2, ThreadsPerCore: 2}
				c.MemoryMB = 2048
			},
			plan: serial,
			want: map[string][]string{
				"-smp":    {"cpus=16,sockets=2,dies=2,cores=2,threads=2"},
				"-m":      {"2048"},
				"-object": {"memory-backend-ram,id=mem0,size=1024M", "memory-backend-ram,id=mem1,size=1024M"},
				"-numa": {
					"node,nodeid=0,memdev=mem0", "node,nodeid=1,memdev=mem1",
					"cpu,node-id=0,socket-id=0", "cpu,node-id=1,socket-id=1",
				},
			},
		},
		{
			name: "llcs only",
			cfg:  func(c *Config) { c.Topology = spec.Topology{LLCs: 4, CoresPerLLC: 1} },
			plan: serial,
			want: map[string][]string{"-smp": {"cpus=4,sockets=1,dies=4,cores=1,threads=1"}},
			not:  []string{"-numa"},
		},
		{
			name: "vsock default port",
			plan: Plan{Accel: AccelTCG, Transport: protocol.TransportVsock, ConsoleFD: 3, GuestCID: 42, VhostFD: 4, VsockPort: protocol.VsockPort},
			want: map[string][]string{
				"-device":  {"vhost-vsock-pci,guest-cid=42,vhostfd=4"},
				"-chardev": {"socket,id=con,fd=3"},
				"-append":  {"console=ttyS0 panic=-1 nokaslr mitigations=off transparent_hugepage=madvise sysctl.kernel.sched_schedstats=1 no_timer_check quiet scxvm.transport=vsock"},
			},
		},
		{
			name: "vsock other port, qemu opens vhost",
			plan: Plan{Accel: AccelTCG, Transport: protocol.TransportVsock, ConsoleFD: 3, GuestCID: 7, VsockPort: 5555},
			want: map[string][]string{
				"-device": {"vhost-vsock-pci,guest-cid=7"},
				"-append": {"console=ttyS0 panic=-1 nokaslr mitigations=off transparent_hugepage=madvise sysctl.kernel.sched_schedstats=1 no_timer_check quiet scxvm.transport=vsock scxvm.vsock_port=5555"},
			},
		},
		{
			name: "shares",
			cfg: func(c *Config) {
				c.Shares = []spec.Share{{HostDir: "/h/src", GuestDir: "/src"}, {HostDir: "/h/a,readonly=off", GuestDir: "/out dir", Writable: true}}
			},
			plan: Plan{Accel: AccelTCG, Transport: protocol.TransportVirtioSerial, ConsoleFD: 3, SerialFD: 4, ShareModel: ShareModelPassthrough},
			want: map[string][]string{
				"-fsdev": {
					"local,id=fsdev0,path=/h/src,security_model=passthrough,readonly=on",
					"local,id=fsdev1,path=/h/a,,readonly=off,security_model=passthrough",
				},
				"-device": {
					"virtio-serial-pci,id=vser", "virtserialport,bus=vser.0,chardev=agent,name=org.scxvm.0",
					"virtio-9p-pci,fsdev=fsdev0,mount_tag=scxvm0", "virtio-9p-pci,fsdev=fsdev1,mount_tag=scxvm1",
				},
				"-append": {"console=ttyS0 panic=-1 nokaslr mitigations=off transparent_hugepage=madvise sysctl.kernel.sched_schedstats=1 no_timer_check quiet scxvm.share=scxvm0,ro,%2Fsrc scxvm.share=scxvm1,rw,%2Fout+dir"},
			},
		},
		{
			name: "share of a non-root user",
			cfg:  func(c *Config) { c.Shares = []spec.Share{{HostDir: "/h", GuestDir: "/g", Writable: true}} },
			plan: serial,
			want: map[string][]string{"-fsdev": {"local,id=fsdev0,path=/h,security_model=none"}},
		},
		{
			name: "extra cmdline",
			cfg:  func(c *Config) { c.Cmdline = []string{"loglevel=7", " ", "scxvm.debug=1"} },
			plan: serial,
			want: map[string][]string{"-append": {"console=ttyS0 panic=-1 nokaslr mitigations=off transparent_hugepage=madvise sysctl.kernel.sched_schedstats=1 no_timer_check quiet loglevel=7 scxvm.debug=1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			args := Args(cfg, tt.plan)
			for flag, want := range tt.want {
				if got := flagValues(args, flag); !slices.Equal(got, want) {
					t.Errorf("%s = %q, want %q", flag, got, want)
				}
			}
			for _, flag := range tt.not {
				if slices.Contains(args, flag) {
					t.Errorf("unexpected %s in %q", flag, args)
				}
			}
			for _, flag := range []string{"-nodefaults", "-no-user-config", "-no-reboot"} {
				if !slices.Contains(args, flag) {
					t.Errorf("missing %s", flag)
				}
			}
			if again := Args(cfg, tt.plan); !slices.Equal(args, again) {
				t.Errorf("Args is not deterministic")
			}
		})
	}
}

func TestKernelCmdlineLimit(t *testing.T) {
	plan := Plan{Transport: protocol.TransportVirtioSerial}
	cfg := Config{Kernel: "k", Cmdline: []string{strings.Repeat("x", 1900)}}
	s, err := KernelCmdline(cfg, plan)
	if err != nil || len(s) >= MaxCmdline {
		t.Fatalf("KernelCmdline = %d bytes, %v; want it to fit", len(s), err)
	}
	cfg.Cmdline = append(cfg.Cmdline, strings.Repeat("y", 100))
	if _, err := KernelCmdline(cfg, plan); err == nil || !strings.Contains(err.Error(), "limit is 2047") {
		t.Errorf("KernelCmdline over the limit: err = %v, want limit error", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{Config{Kernel: "k"}, ""},
		{Config{}, "no kernel"},
		{Config{Kernel: "k", Topology: spec.Topology{NUMANodes: 3}, MemoryMB: 1000}, "does not divide across 3 NUMA nodes"},
		{Config{Kernel: "k", Topology: spec.Topology{NUMANodes: 4}, MemoryMB: 1024}, ""},
		{Config{Kernel: "k", Topology: spec.Topology{LLCs: -1}}, "topology.llcs: -1"},
		{Config{Kernel: "k", Topology: spec.Topology{NUMANodes: 8, LLCs: 8, CoresPerLLC: 8}}, "at most 288 supported"},
		{Config{Kernel: "k", Accel: "hvf"}, `unknown accel "hvf" (want auto, kvm or tcg)`},
		{Config{Kernel: "k", TCGThread: "many"}, `unknown tcg threading "many" (want single or multi)`},
		{Config{Kernel: "k", Transport: "tcp"}, `unknown transport "tcp"`},
		{Config{Kernel: "k", Machine: "microvm"}, `unknown machine "microvm" (want q35 or pc)`},
		{Config{Kernel: "k", Interactive: true}, "interactive needs Stdin and Stdout"},
		{Config{Kernel: "k", Shares: []spec.Share{{HostDir: "rel", GuestDir: "/g"}}}, "must be absolute"},
		{Config{Kernel: "k", Shares: []spec.Share{{HostDir: "/h", GuestDir: "/proc"}}}, "inside the guest's /proc"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

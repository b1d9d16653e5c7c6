//go:build linux

package host

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scxvm/scxvm/internal/proctest"
	"github.com/scxvm/scxvm/internal/testenv"
	"github.com/scxvm/scxvm/protocol"
)

// fakeQEMU writes a shell script that stands in for QEMU: it records its
// pid (and a background child's pid) and its arguments in dir, then runs
// body. fd 3 is the console socket, fd 4 the virtio-serial socket.
func fakeQEMU(t *testing.T, body string) (qemu, dir string) {
	t.Helper()
	dir = t.TempDir()
	qemu = filepath.Join(dir, "qemu")
	script := fmt.Sprintf("#!/bin/sh\necho $$ > %s/pid\nprintf '%%s\\n' \"$@\" > %s/args\n%s\n", dir, dir, body)
	if err := os.WriteFile(qemu, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return qemu, dir
}

func fakeConfig(t *testing.T, qemu string) Config {
	t.Helper()
	kernel := filepath.Join(t.TempDir(), "bzImage")
	os.WriteFile(kernel, []byte("not a kernel"), 0o644)
	return Config{
		QEMU:       qemu,
		Kernel:     kernel,
		Accel:      AccelTCG,
		Transport:  protocol.TransportVirtioSerial,
		ConsoleLog: filepath.Join(t.TempDir(), "console.log"),
	}
}

// readPid reads a pid file written by the fake QEMU, waiting for it.
func readPid(t *testing.T, path string) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(path)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatalf("%s never written", path)
	return 0
}

// assertGone fails if pid is still a live (non-zombie) process.
func assertGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if p, err := proctest.Stat(pid); err != nil || p.Zombie() {
			return
		}
	}
	t.Errorf("process %d still running", pid)
}

// sleeper starts a background sleep (its pid in child) and then becomes
// a sleep itself, like a QEMU that never exits.
const sleeper = `sleep 30 & echo $! > "$(dirname "$0")/child"; exec sleep 30`

func TestTimeoutKillsGroup(t *testing.T) {
	qemu, dir := fakeQEMU(t, sleeper)
	cfg := fakeConfig(t, qemu)
	cfg.Timeout = 300 * time.Millisecond
	start := time.Now()
	vm, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	pid, child := readPid(t, dir+"/pid"), readPid(t, dir+"/child")
	err = vm.Wait()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Wait = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout took %v", d)
	}
	assertGone(t, pid)
	assertGone(t, child)
}

func TestContextCancel(t *testing.T) {
	qemu, dir := fakeQEMU(t, sleeper)
	ctx, cancel := context.WithCancel(context.Background())
	vm, err := Start(ctx, fakeConfig(t, qemu))
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	pid, child := readPid(t, dir+"/pid"), readPid(t, dir+"/child")
	cancel()
	if err := vm.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	assertGone(t, pid)
	assertGone(t, child)
}

func TestKill(t *testing.T) {
	qemu, dir := fakeQEMU(t, sleeper)
	vm, err := Start(context.Background(), fakeConfig(t, qemu))
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	pid := readPid(t, dir+"/pid")
	if err := vm.Kill(); err != nil {
		t.Fatal(err)
	}
	var ee *ExitError
	if err := vm.Wait(); !errors.As(err, &ee) || ee.Signal != syscall.SIGKILL {
		t.Fatalf("Wait = %v, want *ExitError with SIGKILL", err)
	}
	assertGone(t, pid)
	if err := vm.Kill(); err != nil {
		t.Errorf("Kill after exit = %v", err)
	}
}

func TestCloseRunningVM(t *testing.T) {
	qemu, dir := fakeQEMU(t, sleeper)
	cfg := fakeConfig(t, qemu)
	cfg.ConsoleLog = ""
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	vm, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	pid, child := readPid(t, dir+"/pid"), readPid(t, dir+"/child")
	c, err := vm.Accept(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Close(); err != nil {
		t.Fatal(err)
	}
	if err := vm.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	assertGone(t, pid)
	assertGone(t, child)
	if _, err := c.Write([]byte("x")); err == nil {
		t.Errorf("agent stream still writable after Close")
	}
	// Only the console log may remain, and it is where ConsolePath says.
	ents, _ := os.ReadDir(tmp)
	if len(ents) != 1 || filepath.Join(tmp, ents[0].Name()) != vm.ConsolePath() {
		t.Errorf("TMPDIR holds %v, want only the console log %s", ents, vm.ConsolePath())
	}
}

func TestExitStatusAndStderr(t *testing.T) {
	qemu, _ := fakeQEMU(t, `echo "qemu-system-x86_64: -device foo: 'foo' is not a valid device model name" >&2; exit 1`)
	vm, err := Start(context.Background(), fakeConfig(t, qemu))
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	var ee *ExitError
	if err := vm.Wait(); !errors.As(err, &ee) || ee.Code != 1 || ee.Signal != 0 {
		t.Fatalf("Wait = %v, want *ExitError with status 1", err)
	}
	if !strings.Contains(ee.Error(), "not a valid device model name") {
		t.Errorf("error %q does not carry QEMU's message", ee)
	}
}

func TestConsoleAndAgentStream(t *testing.T) {
	qemu, dir := fakeQEMU(t, `
printf 'booting\n[    1.000000] Kernel panic - not syncing: test panic\n[    1.1] ---[ end Kernel panic - not syncing: test panic ]---\n' >&3
echo hello >&4
read reply <&4
echo "$reply" > "$(dirname "$0")/reply"
printf 'no newline at the end' >&3
exit 0`)
	cfg := fakeConfig(t, qemu)
	cfg.Cmdline = []string{"scxvm.test=1"}
	vm, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	rw, err := vm.Accept(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rw.(net.Conn); !ok {
		t.Errorf("agent stream %T is not a net.Conn", rw)
	}
	line, err := bufio.NewReader(rw).ReadString('\n')
	if err != nil || line != "hello\n" {
		t.Fatalf("read %q, %v; want hello", line, err)
	}
	io.WriteString(rw, "ack\n")
	if _, err := vm.Accept(context.Background()); err == nil {
		t.Errorf("second Accept succeeded")
	}

	ev, ok := <-vm.Events()
	if !ok || ev.Kind.String() != "panic" || !strings.Contains(ev.Line, "test panic") || len(ev.Before) != 1 {
		t.Errorf("first event = %+v, %v; want the panic with one line before", ev, ok)
	}
	if err := vm.Wait(); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if _, ok := <-vm.Events(); ok {
		t.Errorf("Events not closed after Wait")
	}
	if got := vm.ConsoleTail(2); len(got) != 2 || got[1] != "no newline at the end" {
		t.Errorf("ConsoleTail(2) = %q", got)
	}
	log, _ := os.ReadFile(vm.ConsolePath())
	if !strings.HasPrefix(string(log), "booting\n") || !strings.HasSuffix(string(log), "no newline at the end") {
		t.Errorf("console log = %q", log)
	}
	if b, _ := os.ReadFile(dir + "/reply"); string(b) != "ack\n" {
		t.Errorf("guest read %q, want ack", b)
	}
	args, _ := os.ReadFile(dir + "/args")
	for _, want := range []string{"socket,id=con,fd=3", "socket,id=agent,fd=4", "scxvm.test=1"} {
		if !strings.Contains(string(args), want) {
			t.Errorf("args lack %q:\n%s", want, args)
		}
	}
	if vm.Accel() != AccelTCG || vm.Transport() != protocol.TransportVirtioSerial || vm.AccelReason() == "" {
		t.Errorf("accel %q (%q), transport %q", vm.Accel(), vm.AccelReason(), vm.Transport())
	}
}

func TestStartErrors(t *testing.T) {
	qemu, _ := fakeQEMU(t, "exit 0")
	good := fakeConfig(t, qemu)
	tests := []struct {
		name string
		mod  func(*Config)
		is   error
		want string
	}{
		{"no qemu", func(c *Config) { c.QEMU = "/nonexistent/qemu-system-x86_64" }, ErrNoQEMU, "install qemu"},
		{"no kernel", func(c *Config) { c.Kernel = "/nonexistent/bzImage" }, os.ErrNotExist, "kernel"},
		{"no initramfs", func(c *Config) { c.Initramfs = "/nonexistent/initrd" }, os.ErrNotExist, "initramfs"},
		{"bad accel", func(c *Config) { c.Accel = "xen" }, nil, "unknown accel"},
		{"long cmdline", func(c *Config) { c.Cmdline = []string{strings.Repeat("x", 2100)} }, nil, "kernel command line is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			vm, err := Start(context.Background(), cfg)
			if err == nil {
				vm.Close()
				t.Fatal("Start succeeded")
			}
			if tt.is != nil && !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start = %v, want %v containing %q", err, tt.is, tt.want)
			}
		})
	}
	if err := ProbeVsock(); err != nil {
		cfg := good
		cfg.Transport = protocol.TransportVsock
		if _, err := Start(context.Background(), cfg); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "vsock requested but") {
			t.Errorf("forced vsock without vhost-vsock: %v", err)
		}
	}
}

func TestInteractive(t *testing.T) {
	qemu, _ := fakeQEMU(t, `echo "login:" >&3; read cmd <&3; echo "ran $cmd" >&3; exit 0`)
	cfg := fakeConfig(t, qemu)
	cfg.Interactive = true
	cfg.Stdin = strings.NewReader("uname\n")
	var out strings.Builder
	cfg.Stdout = &out
	vm, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	if err := vm.Wait(); err != nil {
		t.Fatal(err)
	}
	if want := "login:\nran uname\n"; out.String() != want {
		t.Errorf("terminal got %q, want %q", out.String(), want)
	}
	if log, _ := os.ReadFile(vm.ConsolePath()); !strings.Contains(string(log), "ran uname") {
		t.Errorf("console log %q lacks the session", log)
	}
}

func TestMakeRawNotATerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "notatty")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := MakeRaw(f); err == nil {
		t.Error("MakeRaw on a regular file succeeded")
	}
}

func TestReserveCID(t *testing.T) {
	if err := ProbeVsock(); err != nil {
		testenv.Hardware(t, testenv.VhostVsock, "%v", err)
	}
	f1, cid1, err := reserveCID()
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	f2, cid2, err := reserveCID()
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if cid1 == cid2 || cid1 < 3 || cid2 < 3 {
		t.Errorf("reserved cids %d and %d", cid1, cid2)
	}
}

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
	"github.com/scxvm/scxvm/vmtest/check"
)

func TestPrintDegraded(t *testing.T) {
	rep := func(msg string) spec.WorkerReport { return spec.WorkerReport{Completed: true, Degraded: msg} }
	res := &vmtest.Result{Scenarios: []vmtest.ScenarioResult{
		{Name: "steady", Scheduler: "fifo", Workers: []check.Worker{{Kind: spec.CpuSpin, Report: rep("")}}},
		{Name: "io", Scheduler: "fifo", Workers: []check.Worker{
			{Kind: spec.IoSyncWrite, Report: rep("tmpfs")},
			{Kind: spec.IoRandRead, Report: rep("tmpfs")},
			{Kind: spec.IoRandRead, Report: rep("tmpfs")},
			{Kind: spec.CpuSpin, Report: rep("")},
			{Kind: spec.IoConvoy, Report: rep("no O_DIRECT")},
		}},
	}}
	var b bytes.Buffer
	printDegraded(&b, res)
	want := "\ndegraded (workers that could not run as their kind asks):\n" +
		"  io/fifo: 3 workers (IoSyncWrite, IoRandRead): tmpfs\n" +
		"  io/fifo: 1 worker (IoConvoy): no O_DIRECT\n"
	if b.String() != want {
		t.Errorf("printDegraded:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	printDegraded(&b, &vmtest.Result{Scenarios: res.Scenarios[:1]})
	if strings.Contains(b.String(), "degraded") {
		t.Errorf("nothing degraded, but printed %q", b.String())
	}
}

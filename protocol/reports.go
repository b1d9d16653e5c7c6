package protocol

// SplitReports packs a job's worker reports, in order, into as few Reports
// messages as keep each encoded body under maxBody bytes (zero means half
// of DefaultMaxFrameSize), so that no frame exceeds the peer's maximum
// frame size. Sizes are estimated from above; a single report larger than
// maxBody gets a message of its own. It returns nil for no reports.
func SplitReports(jobID uint32, reports []CgroupReport, maxBody int) []*Reports {
	if maxBody <= 0 {
		maxBody = DefaultMaxFrameSize / 2
	}
	var out []*Reports
	var cur *Reports
	size := 0
	for _, r := range reports {
		n := reportSize(&r)
		if cur == nil || size+n > maxBody {
			cur = &Reports{JobID: jobID}
			out = append(out, cur)
			size = 32 // message overhead
		}
		cur.Workers = append(cur.Workers, r)
		size += n
	}
	return out
}

// reportSize bounds the encoded size of r: field names and fixed fields
// take under 1 KiB, and every variable part is counted at its largest.
func reportSize(r *CgroupReport) int {
	w := &r.Report
	return 1024 + len(r.Cgroup) + len(w.Exit.Message) + len(w.Exit.Kind) +
		9*len(w.CPUsUsed) + 32*len(w.Migrations) + 9*len(w.NumaPages) +
		8*len(w.ResumeLatenciesNs)
}

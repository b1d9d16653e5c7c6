package protocol

// SyntheticReports asks the agent to skip the scheduler and the scenario
// of a Job and to answer with generated Reports: Workers worker reports
// of Samples latency samples each, sent exactly like real ones, then a
// JobResult whose Timings.Setup is the generation time and
// Timings.Collect the time the agent spent sending. It exists to measure
// the report path over the real transport (scxvm bench).
type SyntheticReports struct {
	Workers int `msgpack:"workers" json:"workers"`
	Samples int `msgpack:"samples" json:"samples"`
}

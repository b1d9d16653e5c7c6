package vmtest

import "os"

// dropConsoleLog removes the temporary console log of a run unless the
// run failed and the log has something in it: a passing run leaves no
// file behind, a failing one keeps its log and Result.ConsoleLog names it.
func dropConsoleLog(res *Result) {
	if res.ConsoleLog == "" {
		return
	}
	if res.Failure != nil {
		if fi, err := os.Stat(res.ConsoleLog); err == nil && fi.Size() > 0 {
			return
		}
	}
	os.Remove(res.ConsoleLog)
	res.ConsoleLog = ""
}

package vmtest

import (
	"errors"
	"strings"
	"testing"
)

func TestCatalogueValid(t *testing.T) {
	names := map[string]bool{}
	for _, s := range Scenarios() {
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
		if s.Description == "" {
			t.Errorf("%s: no description", s.Name)
		}
		if s.MaxCPU() > 1 {
			t.Errorf("%s: needs more than 2 cpus", s.Name)
		}
		names[s.Name] = true
	}
	for _, want := range []string{"steady", "oversubscribed", "cpuset-disjoint", "cpuset-resize", "pingpong", "fanout", "churn", "mixed"} {
		if !names[want] {
			t.Errorf("catalogue lacks %q", want)
		}
	}
}

func TestLookupScenario(t *testing.T) {
	if _, err := LookupScenario("steady"); err != nil {
		t.Fatal(err)
	}
	_, err := LookupScenario("stedy")
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `did you mean "steady"`) {
		t.Errorf("got %v, want a ConfigError suggesting steady", err)
	}
	ss, err := ResolveScenarios([]string{"pingpong", "../scenariofile/testdata/scenarios/good.json"})
	if err != nil || len(ss) != 3 {
		t.Errorf("ResolveScenarios: %d scenarios, %v", len(ss), err)
	}
}

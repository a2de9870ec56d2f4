// Command re2-golden answers packages/protocol/src/config/re2-cases.json with Go's regexp
// package (the RE2 syntax kured and Prometheus use) and writes re2-golden.json beside it:
// for each pattern, Go's compile error or, for each input, whether MatchString matches.
// re2.test.ts checks baton's translation to JavaScript against that table.
//
//	cd scripts/re2-golden && go run . ../../packages/protocol/src/config
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
)

type testCase struct {
	Pattern string   `json:"pattern"`
	Inputs  []string `json:"inputs"`
}

type answer struct {
	Pattern string   `json:"pattern"`
	Error   string   `json:"error,omitempty"`
	Inputs  []string `json:"inputs"`
	Matches []bool   `json:"matches"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: re2-golden DIR (the directory of re2-cases.json)")
		os.Exit(2)
	}
	dir := os.Args[1]
	raw, err := os.ReadFile(filepath.Join(dir, "re2-cases.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var cases []testCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		fmt.Fprintln(os.Stderr, "re2-cases.json:", err)
		os.Exit(1)
	}
	out := struct {
		Go      string   `json:"go"`
		Answers []answer `json:"answers"`
	}{Go: runtime.Version()}
	for _, c := range cases {
		a := answer{Pattern: c.Pattern, Inputs: c.Inputs, Matches: []bool{}}
		re, err := regexp.Compile(c.Pattern)
		if err != nil {
			a.Error = err.Error()
		} else {
			for _, in := range c.Inputs {
				a.Matches = append(a.Matches, re.MatchString(in))
			}
		}
		out.Answers = append(out.Answers, a)
	}
	text, _ := json.MarshalIndent(out, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "re2-golden.json"), append(text, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

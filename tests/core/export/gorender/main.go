// gorender: renders Go text/template cases the way Ollama executes a TEMPLATE
// (missingkey=zero, map data). Used only by tests/export/test_modelfile.py to check the
// Python evaluator against the real text/template when a Go toolchain is installed.
//
// stdin: JSON list of {"template": string, "data": object}
// stdout: JSON list of {"out": string, "err": string}
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"text/template"
)

type testCase struct {
	Template string         `json:"template"`
	Data     map[string]any `json:"data"`
}

type result struct {
	Out string `json:"out"`
	Err string `json:"err"`
}

func main() {
	var cases []testCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	results := make([]result, 0, len(cases))
	for _, c := range cases {
		var r result
		tmpl, err := template.New("").Option("missingkey=zero").Parse(c.Template)
		if err != nil {
			r.Err = err.Error()
		} else {
			var b bytes.Buffer
			if err := tmpl.Execute(&b, c.Data); err != nil {
				r.Err = err.Error()
			} else {
				r.Out = b.String()
			}
		}
		results = append(results, r)
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		panic(err)
	}
}

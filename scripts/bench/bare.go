//go:build ignore

// bare.go is the hardware reference for BENCHMARKS.md: a bare net/http
// handler that returns the same bytes as a real GET /v1/cases/{id}, so the
// ratio "regcase / bare" isolates what regcase itself costs.
//
//	go run scripts/bench/bare.go -addr 127.0.0.1:18090 -body case.json
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "listen address (loopback)")
	bodyFile := flag.String("body", "", "file with the response body to serve")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("GET /v1/cases/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"v1"`)
		_, _ = w.Write(body)
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}

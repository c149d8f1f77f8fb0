// Benchmark peer: Go's standard reverse proxy (net/http/httputil.ReverseProxy) in front of one
// upstream, on one OS thread running Go code (GOMAXPROCS=1: a single-process comparison, like
// nginx with one worker), with a keep-alive pool of up to 128 connections to the upstream (as
// Switchyard's default and the undici baseline). No logging. Built by the bench at run time.
//
// Usage: go-reverse-proxy <listen port> <upstream URL>
package main

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go-reverse-proxy <listen port> <http://host:port of the upstream>")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(1)
	target, err := url.Parse(os.Args[2])
	if err != nil || target.Scheme != "http" || target.Host == "" {
		fmt.Fprintf(os.Stderr, "go-reverse-proxy: the upstream must be an http://host:port URL, got %q\n", os.Args[2])
		os.Exit(2)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{
		MaxIdleConns:        128,
		MaxIdleConnsPerHost: 128,
		MaxConnsPerHost:     128,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	proxy.ErrorLog = log.New(os.Stderr, "go-reverse-proxy: ", log.LstdFlags)
	server := &http.Server{
		Addr:              "127.0.0.1:" + os.Args[1],
		Handler:           proxy,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	log.Fatal(server.ListenAndServe())
}

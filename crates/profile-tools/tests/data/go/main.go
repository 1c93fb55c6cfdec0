// Command capture writes the Go fixture profiles used by profile-tools' tests.
//
// Each workload is a known hotspot; the profile is captured while it runs:
//
//	go run main.go -out ..   (from this directory)
//
// writes go_cpu_json.pb.gz, go_cpu_mutex.pb.gz, go_cpu_regexp.pb.gz, go_heap.pb.gz,
// go_allocs.pb.gz, go_mutex.pb.gz, go_block.pb.gz and go_goroutine.pb.gz.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

type order struct {
	ID       int64   `json:"id"`
	Symbol   string  `json:"symbol"`
	Side     string  `json:"side"`
	Price    float64 `json:"price"`
	Quantity int64   `json:"quantity"`
	Tags     []string
}

var sink int

// jsonWork is a serialization hotspot: encoding/json Marshal and Unmarshal in a loop.
func jsonWork(d time.Duration) {
	end := time.Now().Add(d)
	o := order{ID: 1, Symbol: "BTC-USD", Side: "buy", Price: 42000.5, Quantity: 3, Tags: []string{"a", "b"}}
	for time.Now().Before(end) {
		for i := 0; i < 1000; i++ {
			b, err := json.Marshal(o)
			if err != nil {
				log.Fatal(err)
			}
			var back order
			if err := json.Unmarshal(b, &back); err != nil {
				log.Fatal(err)
			}
			sink += len(b)
		}
	}
}

// mutexWork is a lock-contention hotspot: many goroutines on one sync.Mutex.
func mutexWork(d time.Duration) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	counter := 0
	end := time.Now().Add(d)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				for i := 0; i < 1000; i++ {
					mu.Lock()
					counter++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	sink += counter
}

// regexpWork is a regex hotspot: compiling and matching inside the loop.
func regexpWork(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		re := regexp.MustCompile(`^(BTC|ETH|SOL)-(USD|EUR)\s+(\d+)@(\d+\.\d+)$`)
		if re.MatchString("ETH-USD 12@3012.25") {
			sink++
		}
	}
}

var retained [][]byte

// allocWork allocates from a recognisable function and keeps part of it alive.
func allocWork(n int) {
	for i := 0; i < n; i++ {
		b := make([]byte, 4096)
		if i%4 == 0 {
			retained = append(retained, b)
		}
	}
}

// blockedWorkers parks goroutines on a channel, for the goroutine and block profiles.
func blockedWorkers(n int, release chan struct{}, wg *sync.WaitGroup) {
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
		}()
	}
}

func cpuProfile(dir, name string, work func(time.Duration)) {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	work(2 * time.Second)
	pprof.StopCPUProfile()
}

func lookup(dir, profile, name string) {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup(profile).WriteTo(f, 0); err != nil {
		log.Fatal(err)
	}
}

func main() {
	out := flag.String("out", ".", "directory for the profiles")
	flag.Parse()
	runtime.MemProfileRate = 4096
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1)

	cpuProfile(*out, "go_cpu_json.pb.gz", jsonWork)
	cpuProfile(*out, "go_cpu_mutex.pb.gz", mutexWork)
	cpuProfile(*out, "go_cpu_regexp.pb.gz", regexpWork)

	allocWork(20000)
	runtime.GC()
	lookup(*out, "heap", "go_heap.pb.gz")
	lookup(*out, "allocs", "go_allocs.pb.gz")
	lookup(*out, "mutex", "go_mutex.pb.gz")

	release := make(chan struct{})
	var wg sync.WaitGroup
	blockedWorkers(50, release, &wg)
	time.Sleep(100 * time.Millisecond)
	lookup(*out, "goroutine", "go_goroutine.pb.gz")
	close(release)
	wg.Wait()
	lookup(*out, "block", "go_block.pb.gz")
	fmt.Println("profiles written to", *out, "sink", sink)
}

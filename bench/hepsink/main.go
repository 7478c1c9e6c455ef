// Command hepsink is a HOMER collector's stand-in for benchmarks: it
// counts the HEP v3 packets that reach it over UDP (and those that do not
// start with the HEP3 magic) and prints the counts when it gets SIGTERM or
// SIGINT, as "hep_packets=N hep_bytes=N bad=N".
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9060", "UDP address to listen on")
	flag.Parse()
	pc, err := net.ListenPacket("udp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	if uc, ok := pc.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(8 << 20)
	}
	var packets, bytes, bad int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 6 || string(buf[:4]) != "HEP3" || int(buf[4])<<8|int(buf[5]) != n {
				bad++
				continue
			}
			packets++
			bytes += int64(n)
		}
	}()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	<-sigs
	pc.Close()
	<-done
	fmt.Printf("hep_packets=%d hep_bytes=%d bad=%d\n", packets, bytes, bad)
}

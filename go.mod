module github.com/stated-io/stated

go 1.26

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/twmb/murmur3 v1.2.2 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

module github.com/stated-io/stated

go 1.26

require (
	github.com/klauspost/compress v1.20.3
	github.com/twmb/murmur3 v1.2.2
	google.golang.org/protobuf v1.36.12
)

module github.com/hullrt/hull/bench

go 1.26.8

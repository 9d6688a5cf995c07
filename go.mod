module github.com/rampart-sec/rampart

go 1.26.8

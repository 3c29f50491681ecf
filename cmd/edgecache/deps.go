// Package main is a placeholder that pins the module's dependencies until the real command lands.
package main

import (
	_ "github.com/hashicorp/golang-lru/v2/simplelru"
	_ "github.com/valyala/fasthttp"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/sync/singleflight"
)

func main() {}

package main

import "go.opentelemetry.io/otel"

func otelSetErrorHandler(f func(error)) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(f))
}

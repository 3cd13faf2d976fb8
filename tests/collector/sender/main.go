// Command otlp-go-sender exports fixed telemetry of every signal with the
// official OpenTelemetry Go SDK and its OTLP exporters, and prints each
// request it sent, as one JSON line on stdout:
//
//	{"signal":"traces","request_b64":"<protobuf ExportTraceServiceRequest>"}
//
// The requests are captured at the wire (a gRPC interceptor, an HTTP round
// tripper that undoes the exporter's gzip), after the peer accepted them, so
// a test can compare what a receiver decoded with exactly what was sent.
// Any failed export makes the program exit non-zero.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// recorder prints accepted requests; one line per request, never interleaved.
type recorder struct {
	mu  sync.Mutex
	out io.Writer
}

func (r *recorder) record(signal string, body []byte) {
	line, _ := json.Marshal(map[string]string{
		"signal":      signal,
		"request_b64": base64.StdEncoding.EncodeToString(body),
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.out, "%s\n", line)
}

func signalOfGRPCMethod(method string) string {
	switch {
	case strings.HasPrefix(method, "/opentelemetry.proto.collector.trace."):
		return "traces"
	case strings.HasPrefix(method, "/opentelemetry.proto.collector.metrics."):
		return "metrics"
	case strings.HasPrefix(method, "/opentelemetry.proto.collector.logs."):
		return "logs"
	}
	return "unknown"
}

func (r *recorder) interceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
		return err
	}
	msg, ok := req.(proto.Message)
	if !ok {
		return fmt.Errorf("request of %s is not a protobuf message", method)
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return err
	}
	r.record(signalOfGRPCMethod(method), body)
	return nil
}

// roundTripper records the request body (gunzipped) of every 2xx exchange.
type roundTripper struct {
	rec  *recorder
	next http.RoundTripper
}

func (t *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	wire, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	_ = req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(wire))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(wire)), nil }
	body := wire
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err != nil {
			return nil, err
		}
		if body, err = io.ReadAll(zr); err != nil {
			return nil, err
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil && resp.StatusCode/100 == 2 {
		signal := strings.TrimPrefix(req.URL.Path, "/v1/")
		t.rec.record(signal, body)
	}
	return resp, err
}

type options struct {
	endpoint    string // host:port
	protocol    string // grpc | http/protobuf
	compression string // none | gzip
}

func (o options) url(signal string) string {
	return "http://" + o.endpoint + "/v1/" + signal
}

var res = resource.NewSchemaless(
	attribute.String("service.name", "otlp-go-sender"),
	attribute.String("service.version", "1.2.3"),
	attribute.Int64("host.cpu.count", 2),
)

func sendTraces(ctx context.Context, o options, rec *recorder, client *http.Client) error {
	var exp sdktrace.SpanExporter
	var err error
	if o.protocol == "grpc" {
		opts := []otlptracegrpc.Option{
			otlptracegrpc.WithEndpoint(o.endpoint), otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithDialOption(grpc.WithUnaryInterceptor(rec.interceptor)),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}),
		}
		if o.compression == "gzip" {
			opts = append(opts, otlptracegrpc.WithCompressor("gzip"))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	} else {
		opts := []otlptracehttp.Option{
			otlptracehttp.WithEndpointURL(o.url("traces")), otlptracehttp.WithHTTPClient(client),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
		}
		if o.compression == "gzip" {
			opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	}
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	tracer := tp.Tracer("otlp-go-sender/traces", trace.WithInstrumentationVersion("0.1.0"),
		trace.WithInstrumentationAttributes(attribute.String("scope.kind", "test")))
	other := tp.Tracer("otlp-go-sender/other")

	ctx, root := tracer.Start(ctx, "GET /checkout", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", "GET"),
			attribute.Int64("http.response.status_code", 200),
			attribute.Float64("load", 0.75),
			attribute.Bool("cached", true),
			attribute.StringSlice("tags", []string{"a", "b", ""}),
			attribute.Int64Slice("ports", []int64{80, -1, 1 << 40}),
			attribute.Float64Slice("ratios", []float64{0.5, -2.25}),
			attribute.BoolSlice("flags", []bool{true, false}),
			attribute.String("unicode", "grüße, 世界 🚀"),
		))
	_, child := tracer.Start(ctx, "SELECT orders", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithLinks(trace.Link{SpanContext: root.SpanContext(),
			Attributes: []attribute.KeyValue{attribute.String("link.kind", "follows")}}))
	child.AddEvent("rows fetched", trace.WithAttributes(attribute.Int64("rows", 42)))
	child.RecordError(errors.New("deadlock detected"))
	child.SetStatus(codes.Error, "query failed")
	child.End()
	_, producer := other.Start(ctx, "publish", trace.WithSpanKind(trace.SpanKindProducer))
	producer.SetStatus(codes.Ok, "")
	producer.End()
	root.End()
	return tp.Shutdown(context.Background())
}

func sendMetrics(ctx context.Context, o options, rec *recorder, client *http.Client) error {
	var exp sdkmetric.Exporter
	var err error
	if o.protocol == "grpc" {
		opts := []otlpmetricgrpc.Option{
			otlpmetricgrpc.WithEndpoint(o.endpoint), otlpmetricgrpc.WithInsecure(),
			otlpmetricgrpc.WithDialOption(grpc.WithUnaryInterceptor(rec.interceptor)),
			otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: false}),
		}
		if o.compression == "gzip" {
			opts = append(opts, otlpmetricgrpc.WithCompressor("gzip"))
		}
		exp, err = otlpmetricgrpc.New(ctx, opts...)
	} else {
		opts := []otlpmetrichttp.Option{
			otlpmetrichttp.WithEndpointURL(o.url("metrics")), otlpmetrichttp.WithHTTPClient(client),
			otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}),
		}
		if o.compression == "gzip" {
			opts = append(opts, otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression))
		}
		exp, err = otlpmetrichttp.New(ctx, opts...)
	}
	if err != nil {
		return err
	}
	expHist := sdkmetric.NewView(sdkmetric.Instrument{Name: "payload.size"},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}})
	// The reader exports once, on shutdown.
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithView(expHist),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))))
	meter := mp.Meter("otlp-go-sender/metrics", metric.WithInstrumentationVersion("0.1.0"))
	get := attribute.NewSet(attribute.String("method", "GET"), attribute.Bool("ok", true))
	post := attribute.NewSet(attribute.String("method", "POST"), attribute.Int64("code", 503))

	requests, _ := meter.Int64Counter("http.requests", metric.WithUnit("{request}"), metric.WithDescription("requests served"))
	requests.Add(ctx, 3, metric.WithAttributeSet(get))
	requests.Add(ctx, 1, metric.WithAttributeSet(post))
	inflight, _ := meter.Float64UpDownCounter("queue.depth")
	inflight.Add(ctx, 7.5)
	inflight.Add(ctx, -2.25)
	latency, _ := meter.Float64Histogram("http.duration", metric.WithUnit("ms"),
		metric.WithExplicitBucketBoundaries(1, 10, 100))
	for _, v := range []float64{0.5, 3, 3, 42, 1000} {
		latency.Record(ctx, v, metric.WithAttributeSet(get))
	}
	sizes, _ := meter.Int64Histogram("payload.size", metric.WithUnit("By"))
	for _, v := range []int64{1, 2, 4, 1024, 1 << 20} {
		sizes.Record(ctx, v)
	}
	temp, _ := meter.Float64Gauge("cpu.temperature", metric.WithUnit("Cel"))
	temp.Record(ctx, 61.5, metric.WithAttributeSet(post))
	return mp.Shutdown(context.Background())
}

func sendLogs(ctx context.Context, o options, rec *recorder, client *http.Client) error {
	var exp sdklog.Exporter
	var err error
	if o.protocol == "grpc" {
		opts := []otlploggrpc.Option{
			otlploggrpc.WithEndpoint(o.endpoint), otlploggrpc.WithInsecure(),
			otlploggrpc.WithDialOption(grpc.WithUnaryInterceptor(rec.interceptor)),
			otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: false}),
		}
		if o.compression == "gzip" {
			opts = append(opts, otlploggrpc.WithCompressor("gzip"))
		}
		exp, err = otlploggrpc.New(ctx, opts...)
	} else {
		opts := []otlploghttp.Option{
			otlploghttp.WithEndpointURL(o.url("logs")), otlploghttp.WithHTTPClient(client),
			otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}),
		}
		if o.compression == "gzip" {
			opts = append(opts, otlploghttp.WithCompression(otlploghttp.GzipCompression))
		}
		exp, err = otlploghttp.New(ctx, opts...)
	}
	if err != nil {
		return err
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
	logger := lp.Logger("otlp-go-sender/logs", log.WithInstrumentationVersion("0.1.0"))

	traceID, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	spanID, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	spanCtx := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled}))
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

	var r log.Record
	r.SetTimestamp(at)
	r.SetObservedTimestamp(at.Add(time.Millisecond))
	r.SetSeverity(log.SeverityWarn)
	r.SetSeverityText("WARN")
	r.SetBody(attribute.StringValue("disk almost full"))
	r.AddAttributes(
		attribute.String("path", "/var"),
		attribute.Int64("free.bytes", 1<<30),
		attribute.Float64("free.ratio", 0.05),
		attribute.Bool("alert", true),
		attribute.ByteSlice("raw", []byte{0, 1, 2, 255}),
		attribute.Slice("mounts", attribute.StringValue("/"), attribute.Int64Value(2)),
		attribute.Map("owner", attribute.String("team", "storage"), attribute.Int("oncall", 1)),
	)
	logger.Emit(spanCtx, r)

	var e log.Record
	e.SetTimestamp(at.Add(time.Second))
	e.SetSeverity(log.SeverityError2)
	e.SetEventName("order.failed")
	e.SetBody(attribute.MapValue(attribute.String("order", "A-1"), attribute.Int("items", 3),
		attribute.Slice("reasons", attribute.StringValue("stock"), attribute.BoolValue(false))))
	logger.Emit(ctx, e)
	return lp.Shutdown(context.Background())
}

func main() {
	var o options
	var signal string
	flag.StringVar(&o.endpoint, "endpoint", "127.0.0.1:4317", "host:port of the OTLP receiver")
	flag.StringVar(&o.protocol, "protocol", "grpc", "grpc or http/protobuf")
	flag.StringVar(&o.compression, "compression", "none", "none or gzip")
	flag.StringVar(&signal, "signal", "all", "traces, metrics, logs or all")
	flag.Parse()
	if o.protocol != "grpc" && o.protocol != "http/protobuf" {
		fmt.Fprintf(os.Stderr, "unknown --protocol %q\n", o.protocol)
		os.Exit(2)
	}
	if o.compression != "none" && o.compression != "gzip" {
		fmt.Fprintf(os.Stderr, "unknown --compression %q\n", o.compression)
		os.Exit(2)
	}
	senders := map[string]func(context.Context, options, *recorder, *http.Client) error{
		"traces": sendTraces, "metrics": sendMetrics, "logs": sendLogs,
	}
	order := []string{"traces", "metrics", "logs"}
	if signal != "all" {
		if _, ok := senders[signal]; !ok {
			fmt.Fprintf(os.Stderr, "unknown --signal %q\n", signal)
			os.Exit(2)
		}
		order = []string{signal}
	}
	rec := &recorder{out: os.Stdout}
	client := &http.Client{Transport: &roundTripper{rec: rec, next: http.DefaultTransport}}
	// Export errors reach the global handler, not the caller: fail on them.
	var failed error
	var mu sync.Mutex
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		failed = errors.Join(failed, err)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range order {
		if err := senders[s](ctx, o, rec, client); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", s, err)
			os.Exit(1)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if failed != nil {
		fmt.Fprintf(os.Stderr, "export failed: %v\n", failed)
		os.Exit(1)
	}
}

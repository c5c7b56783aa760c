package telemetry

import (
	"context"
	"math"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/runtime"
)

// Span and attribute names.
const (
	SpanEvent   = "peregrine.event"
	SpanRule    = "peregrine.rule"
	SpanCompile = "peregrine.rules.compile"
	SpanLoad    = "peregrine.rules.load"

	AttrRuleName    = attribute.Key("security_rule.name")
	AttrRuleset     = attribute.Key("security_rule.ruleset.name")
	AttrRuleSource  = attribute.Key("peregrine.rule.source")
	AttrRuleStage   = attribute.Key("peregrine.rule.stage")
	AttrRuleMatched = attribute.Key("peregrine.rule.matched")
	AttrDurationNs  = attribute.Key("peregrine.rule.duration_ns")
)

// TraceEvery turns a share of events into a period: trace one event in
// the returned number (0 for a ratio of 0: none).
func TraceEvery(ratio float64) uint64 {
	if ratio <= 0 {
		return 0
	}
	if ratio >= 1 {
		return 1
	}
	return uint64(math.Round(1 / ratio))
}

// EventTracer returns the runtime.EventTracer that traces sampled events
// with t's tracer: one span per event (peregrine.event, with its syscall
// and process), a child per rule evaluated (peregrine.rule, with
// security_rule.name, the stage, whether it matched, its duration).
func (t *Telemetry) EventTracer() runtime.EventTracer { return &eventTracer{tracer: t.tracer} }

type eventTracer struct {
	tracer trace.Tracer
	span   eventSpan
}

var (
	keyProcName = policy.MustKey("proc.name")
	keyEvtType  = policy.MustKey("evt.type")
)

// StartEvent starts the span of the event in; nil when the sampler drops
// it.
func (e *eventTracer) StartEvent(in *runtime.Input) runtime.EventSpan {
	attrs := make([]attribute.KeyValue, 0, 3)
	if in.Syscall != "" {
		attrs = append(attrs, attribute.String("peregrine.syscall", in.Syscall))
	} else if v, ok := in.Event.Text(keyEvtType); ok {
		attrs = append(attrs, attribute.String("peregrine.syscall", strings.Clone(v)))
	}
	// The event's text may be the record's buffer, which the next record
	// reuses: the span, exported later, keeps a copy.
	if v, ok := in.Event.Text(keyProcName); ok {
		attrs = append(attrs, attribute.String("process.executable.name", strings.Clone(v)))
	}
	ctx, span := e.tracer.Start(context.Background(), SpanEvent, trace.WithAttributes(attrs...), trace.WithSpanKind(trace.SpanKindInternal))
	if !span.SpanContext().IsSampled() {
		span.End()
		return nil
	}
	e.span = eventSpan{tracer: e.tracer, ctx: ctx, span: span}
	return &e.span
}

type eventSpan struct {
	tracer trace.Tracer
	ctx    context.Context
	span   trace.Span
}

// Rule records a rule's evaluation as a child span with its own times.
func (s *eventSpan) Rule(info *runtime.RuleInfo, matched bool, start time.Time, took time.Duration) {
	_, span := s.tracer.Start(s.ctx, SpanRule, trace.WithTimestamp(start), trace.WithAttributes(
		AttrRuleName.String(info.Name), AttrRuleset.String(info.Ruleset), AttrRuleSource.String(info.Source),
		AttrRuleStage.String(info.Stage), AttrRuleMatched.Bool(matched), AttrDurationNs.Int64(int64(took))))
	span.End(trace.WithTimestamp(start.Add(took)))
}

// End ends the event's span and returns its trace id.
func (s *eventSpan) End(matched int) string {
	s.span.SetAttributes(attribute.Int("peregrine.event.rules_matched", matched))
	s.span.End()
	return s.span.SpanContext().TraceID().String()
}

// RecordCompile records a compilation as a span (peregrine.rules.compile)
// with a child per compiler pass, at the times the passes ran, each with
// the figures the pass produced as attributes, under parent's span.
func (t *Telemetry) RecordCompile(parent context.Context, plan *compiler.Plan) {
	if len(plan.Passes) == 0 {
		return
	}
	first, last := plan.Passes[0], plan.Passes[len(plan.Passes)-1]
	end := last.Start.Add(last.Duration)
	ctx, span := t.tracer.Start(parent, SpanCompile, trace.WithTimestamp(first.Start), trace.WithAttributes(
		attribute.Int("peregrine.rules", len(plan.Rules)), attribute.Int("peregrine.classes", len(plan.Classes)),
		attribute.Int("peregrine.warnings", len(plan.Warnings))))
	for _, p := range plan.Passes {
		_, ps := t.tracer.Start(ctx, "peregrine.compiler."+p.Name, trace.WithTimestamp(p.Start),
			trace.WithAttributes(append(passFigures(plan, p.Name), attribute.String("peregrine.compiler.pass", p.Name),
				attribute.Int64("peregrine.compiler.pass.duration_ns", int64(p.Duration)))...))
		ps.End(trace.WithTimestamp(p.Start.Add(p.Duration)))
	}
	span.End(trace.WithTimestamp(end))
}

// passFigures are what a pass produced, read from the plan it built.
func passFigures(plan *compiler.Plan, pass string) []attribute.KeyValue {
	switch pass {
	case "select-rules":
		return []attribute.KeyValue{attribute.Int("peregrine.rules", len(plan.Rules))}
	case "infer-event-types", "split-kernel-predicates":
		preds, exact := 0, 0
		syscalls := map[string]bool{}
		for _, ps := range plan.Preds {
			for _, sp := range ps {
				preds++
				syscalls[sp.Syscall] = true
				if sp.Exact {
					exact++
				}
			}
		}
		if pass == "infer-event-types" {
			return []attribute.KeyValue{attribute.Int("peregrine.syscalls", len(syscalls))}
		}
		return []attribute.KeyValue{attribute.Int("peregrine.kernel_predicates", preds),
			attribute.Int("peregrine.kernel_predicates.exact", exact)}
	case "group-classes":
		return []attribute.KeyValue{attribute.Int("peregrine.classes", len(plan.Classes))}
	case "encode-maps":
		if e := plan.Encoding; e != nil {
			return []attribute.KeyValue{attribute.Int("peregrine.maps.syscalls", len(e.Syscalls)),
				attribute.Int("peregrine.maps.paths", len(e.Paths)), attribute.Int("peregrine.maps.comms", len(e.Comm))}
		}
	case "build-tree":
		if plan.Tree != nil {
			return []attribute.KeyValue{attribute.Int("peregrine.tree.rules", len(plan.Tree.Rules()))}
		}
	}
	return nil
}

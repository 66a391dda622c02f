package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// sendFunc makes request number i and returns the key its event will be
// matched by at the receiver (see subjectKey).
type sendFunc func(ctx context.Context, i int) (key string, err error)

// loadResult is what the generator saw.
type loadResult struct {
	Attempted   int             `json:"attempted"`
	Accepted    int             `json:"accepted"`
	Errors      int             `json:"errors"`
	ErrorKinds  map[string]int  `json:"error_kinds,omitempty"`
	Start       time.Time       `json:"start"`
	End         time.Time       `json:"end"` // the last answer
	LastSend    time.Time       `json:"last_send"`
	MaxBehindMS float64         `json:"max_behind_schedule_ms"` // how late the generator started a request
	Aborted     bool            `json:"aborted"`                // stopped early: too far behind schedule
	Keys        map[string]bool `json:"-"`
	ReqLatency  []time.Duration `json:"-"`
}

// generate calls send at rate per second for d, open loop: request i is
// due at start + i/rate whatever happened to the earlier ones; at most
// conns are in flight (a full pipe makes the generator late, which
// MaxBehindMS reports and the achieved rate shows). It gives up, Aborted,
// when it is more than maxBehind late: the target is out of reach and the
// run stays bounded.
func generate(ctx context.Context, rate float64, d, maxBehind time.Duration, conns int, send sendFunc) *loadResult {
	n := int(rate * d.Seconds())
	res := &loadResult{ErrorKinds: map[string]int{}, Keys: make(map[string]bool, n), ReqLatency: make([]time.Duration, 0, n)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, conns)
	res.Start = time.Now()
	var behind time.Duration
	for i := 0; i < n && ctx.Err() == nil; i++ {
		due := res.Start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		sem <- struct{}{}
		behind = max(behind, time.Since(due))
		if behind > maxBehind {
			<-sem
			res.Aborted = true
			break
		}
		res.Attempted++
		res.LastSend = time.Now()
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			t0 := time.Now()
			key, err := send(ctx, i)
			lat := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Errors++
				res.ErrorKinds[errorKind(err)]++
				return
			}
			res.Accepted++
			res.Keys[key] = true
			res.ReqLatency = append(res.ReqLatency, lat)
		}(i)
	}
	wg.Wait()
	res.End = time.Now()
	res.MaxBehindMS = ms(behind)
	return res
}

// statusError is a non-2xx answer.
type statusError struct{ code int }

func (e *statusError) Error() string { return "HTTP " + strconv.Itoa(e.code) }

func errorKind(err error) string {
	if se, ok := err.(*statusError); ok {
		return se.Error()
	}
	if len(err.Error()) > 80 {
		return err.Error()[:80]
	}
	return err.Error()
}

func newClient(conns int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}}
}

// reportBody is a realistic public report (the one scripts/bench.sh sends).
var reportBody = []byte(`{"channel":"api","category":"food_safety","subject":{"name":"Harbour Fish Market","registry_id":"FBO-10442"},"description":"Fish displayed without ice at noon; strong smell near the counter."}`)

// intake submits one report to regcase; the key is its event's subject.
func intake(client *http.Client, api, token string) sendFunc {
	url := api + "/v1/reports"
	return func(ctx context.Context, _ int) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(reportBody))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusCreated {
			return "", &statusError{resp.StatusCode}
		}
		var out struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &out); err != nil || out.ID == "" {
			return "", fmt.Errorf("201 without a report id: %.100s", b)
		}
		return "reports/" + out.ID, nil
	}
}

// bareSend is the reference: a signed CloudEvent of the same size POSTed
// straight to the receiver, its time = the moment it is sent.
func bareSend(client *http.Client, url string, wh *standardwebhooks.Webhook) sendFunc {
	return func(ctx context.Context, _ int) (string, error) {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		now := time.Now()
		body, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "source": "/bench", "type": "gov.regcase.report.received",
			"subject": "bare", "time": now.UTC().Format(time.RFC3339Nano), "datacontenttype": "application/json",
			"data": json.RawMessage(`{"category":"food_safety","channel":"api","has_reporter":false,"subject":{"name":"Harbour Fish Market","registry_id":"FBO-10442"},"tracking_code":"ABCD-EFGH-JKMN"}`)})
		sig, err := wh.Sign(id, now, body)
		if err != nil {
			return "", err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/cloudevents+json")
		req.Header.Set(standardwebhooks.HeaderWebhookID, id)
		req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return "", &statusError{resp.StatusCode}
		}
		return id, nil
	}
}

package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
)

func rabbitURL() string {
	if url := os.Getenv("DLVM_TEST_RABBIT_URL"); url != "" {
		return url
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// dropQueue removes a test topic's durable queue from the broker when the test ends.
func dropQueue(t *testing.T, topic string) {
	t.Cleanup(func() {
		if os.Getenv("DLVM_TEST_RABBIT") == "off" {
			return
		}
		conn, err := amqp.Dial(rabbitURL())
		if err != nil {
			return
		}
		defer conn.Close()
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(DefaultExchange+"."+topic, false, false, false)
		}
	})
}

// buses returns every transport to test: in-process, and RabbitMQ at DLVM_TEST_RABBIT_URL
// (default the local broker) unless DLVM_TEST_RABBIT=off.
func buses(t *testing.T) map[string]func(t *testing.T) Bus {
	out := map[string]func(t *testing.T) Bus{
		"inproc": func(t *testing.T) Bus { return NewInproc(slog.New(slog.DiscardHandler)) },
	}
	if os.Getenv("DLVM_TEST_RABBIT") != "off" {
		url := rabbitURL()
		out["rabbit"] = func(t *testing.T) Bus {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := DialRabbit(ctx, RabbitOptions{URLs: []string{url}})
			require.NoError(t, err, "RabbitMQ at %s (DLVM_TEST_RABBIT=off skips)", url)
			return b
		}
	}
	return out
}

func TestBus(t *testing.T) {
	for name, open := range buses(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("each cast reaches exactly one of the consumers", func(t *testing.T) {
				b := open(t)
				defer b.Close()
				topic := fmt.Sprintf("dlvm-test-%d", time.Now().UnixNano())
				dropQueue(t, topic)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				var mu sync.Mutex
				got := map[int]int{}
				per := map[string]int{}
				done := make(chan struct{}, 100)
				for _, who := range []string{"a", "b"} {
					require.NoError(t, b.Subscribe(ctx, topic, func(ctx context.Context, method string, args json.RawMessage) error {
						var ref WorkflowRef
						require.Equal(t, MethodRunWorkflow, method)
						require.NoError(t, json.Unmarshal(args, &ref))
						var n int
						fmt.Sscan(ref.WorkflowID, &n)
						mu.Lock()
						got[n]++
						per[who]++
						mu.Unlock()
						done <- struct{}{}
						return nil
					}))
				}
				const n = 40
				for i := 0; i < n; i++ {
					require.NoError(t, b.Cast(ctx, topic, MethodRunWorkflow, WorkflowRef{WorkflowID: fmt.Sprint(i)}))
				}
				for i := 0; i < n; i++ {
					select {
					case <-done:
					case <-time.After(10 * time.Second):
						t.Fatalf("only %d of %d messages arrived", i, n)
					}
				}
				time.Sleep(100 * time.Millisecond)
				mu.Lock()
				defer mu.Unlock()
				require.Len(t, got, n)
				for i, c := range got {
					require.Equal(t, 1, c, "message %d delivered %d times", i, c)
				}
				require.Positive(t, per["a"], "both consumers share the work")
				require.Positive(t, per["b"], "both consumers share the work")
			})
			t.Run("cast after close fails", func(t *testing.T) {
				b := open(t)
				require.NoError(t, b.Close())
				require.ErrorIs(t, b.Cast(context.Background(), "dlvm-test-closed", MethodSchedule, WorkflowRef{}), ErrClosed)
				dropQueue(t, "dlvm-test-closed")
				require.NoError(t, b.Close(), "Close is idempotent")
			})
		})
	}
}

// TestRabbitKeepsMessagesForLateConsumers: a durable queue holds casts made before anyone
// consumes, so a scheduler that starts after the API loses nothing.
func TestRabbitKeepsMessagesForLateConsumers(t *testing.T) {
	open, ok := buses(t)["rabbit"]
	if !ok {
		t.Skip("DLVM_TEST_RABBIT=off")
	}
	b := open(t)
	defer b.Close()
	topic := fmt.Sprintf("dlvm-test-late-%d", time.Now().UnixNano())
	dropQueue(t, topic)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, b.Cast(ctx, topic, MethodSchedule, WorkflowRef{WorkflowID: "w1"}))
	got := make(chan string, 1)
	require.NoError(t, b.Subscribe(ctx, topic, func(ctx context.Context, method string, args json.RawMessage) error {
		var ref WorkflowRef
		_ = json.Unmarshal(args, &ref)
		got <- ref.WorkflowID
		return nil
	}))
	select {
	case id := <-got:
		require.Equal(t, "w1", id)
	case <-time.After(10 * time.Second):
		t.Fatal("message cast before the consumer started was lost")
	}
}

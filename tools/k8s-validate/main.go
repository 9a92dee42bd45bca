// k8s-validate: strict decoding of Kubernetes manifests (kustomize build output on stdin)
// into the Kubernetes API types and the Gateway API types, offline.
//
//	kustomize build deploy/k8s | go run ./tools/k8s-validate
//
// Every document must be of a kind known here, and decode without unknown or duplicate
// fields and without type errors (what `kubectl apply --validate=strict` rejects
// client-side). It does not run the API server's semantic validation.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

func main() {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme,
		gatewayv1.Install,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	counts := map[string]int{}
	failures := 0
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "document %d: %v\n", n, err)
			os.Exit(1)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		_ = yaml.Unmarshal(doc, &meta)
		name := fmt.Sprintf("%s/%s", meta.Kind, meta.Metadata.Name)
		if _, _, err := decoder.Decode(doc, nil, nil); err != nil {
			fmt.Fprintf(os.Stderr, "INVALID %s: %v\n", name, err)
			failures++
			continue
		}
		counts[meta.Kind]++
	}
	kinds := make([]string, 0, len(counts))
	total := 0
	for k, c := range counts {
		kinds = append(kinds, fmt.Sprintf("%d %s", c, k))
		total += c
	}
	sort.Strings(kinds)
	if failures > 0 {
		fmt.Fprintf(os.Stderr, "%d invalid document(s)\n", failures)
		os.Exit(1)
	}
	if total == 0 {
		fmt.Fprintln(os.Stderr, "no documents")
		os.Exit(1)
	}
	fmt.Printf("valid: %d documents (%s)\n", total, strings.Join(kinds, ", "))
}

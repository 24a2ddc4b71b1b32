/** The Splitstream Kubernetes operator: the Tunnel custom resource and its reconciler. */
package dev.splitstream.operator;

//! Pods: the pause process, its namespaces and the pod state.

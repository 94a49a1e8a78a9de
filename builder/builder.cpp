// Placeholder translation unit: the build service (Dockerfile -> image) is
// issue 4. Nothing here is called yet.
namespace drydock::builder {
int builder_placeholder() { return 0; }
}  // namespace drydock::builder

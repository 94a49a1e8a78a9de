#pragma once

// `drydock image export|import|ls|inspect|rm`: the client of the image
// archive API (/images), as `docker save|load|images|image inspect|rmi`
// are docker's.

#include <string>
#include <vector>

namespace drydock::server {

// Runs `drydock image args...`; returns the exit status: 0 done, 1 the
// server refused or the transfer failed (the reason is printed), 2 a usage
// error or the server could not be reached.
int run_image_command(const std::vector<std::string>& args);

}  // namespace drydock::server

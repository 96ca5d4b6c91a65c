// Caffe's own upgrade of a net definition, for tests: reads a text NetParameter (V0, V1
// or V2), runs Caffe's UpgradeNetAsNeeded on it, and writes the result as text.
// Built by tests/test_upgrade.py against the real-Caffe oracle, whose build leaves out
// Caffe's tools (upgrade_net_proto_text among them).
//
// usage: caffe_upgrade IN.prototxt OUT.prototxt
#include <string>

#include <glog/logging.h>

#include "caffe/proto/caffe.pb.h"
#include "caffe/util/io.hpp"
#include "caffe/util/upgrade_proto.hpp"

int main(int argc, char** argv) {
  ::google::InitGoogleLogging(argv[0]);
  if (argc != 3) return 2;
  const std::string input(argv[1]);
  caffe::NetParameter net;
  if (!caffe::ReadProtoFromTextFile(input, &net)) return 2;
  const bool upgraded = !caffe::NetNeedsUpgrade(net) || caffe::UpgradeNetAsNeeded(input, &net);
  caffe::WriteProtoToTextFile(net, argv[2]);
  return upgraded ? 0 : 1;
}

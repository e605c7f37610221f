// The engine-free core of the EmoRig plugin, in one include. Standard C++17, header-only,
// no exceptions, no Unreal includes: unit-tested with g++ against tests/vectors/
// (engine_plugins/unreal/tests, run by tests/test_unreal_core.py).
#pragma once

#include "EmoRigCore/Bytes.h"
#include "EmoRigCore/Compact.h"
#include "EmoRigCore/FrameTime.h"
#include "EmoRigCore/LiveLinkFace.h"
#include "EmoRigCore/Msgpack.h"
#include "EmoRigCore/Osc.h"
#include "EmoRigCore/Reason.h"
#include "EmoRigCore/Tracker.h"
#include "EmoRigCore/Zmq.h"

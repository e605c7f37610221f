// The EmoRig runtime module: a Live Link source that receives emorig's frames over UDP.
#pragma once

#include "CoreMinimal.h"
#include "Logging/LogMacros.h"

EMORIG_API DECLARE_LOG_CATEGORY_EXTERN(LogEmoRig, Log, All);

// The EmoRig editor module: only the Live Link creation panel (the source, its settings and
// its factory live in the runtime module, so presets also work in packaged builds).
#include "EmoRigSourceFactory.h"
#include "Modules/ModuleManager.h"
#include "SEmoRigSourcePanel.h"

class FEmoRigEditorModule : public IModuleInterface
{
public:
	virtual void StartupModule() override
	{
		UEmoRigSourceFactory::SetCreationPanelBuilder(
			[](ULiveLinkSourceFactory::FOnLiveLinkSourceCreated OnSourceCreated) -> TSharedPtr<SWidget>
			{
				return SNew(SEmoRigSourcePanel).OnSourceCreated(OnSourceCreated);
			});
	}

	virtual void ShutdownModule() override
	{
		UEmoRigSourceFactory::SetCreationPanelBuilder(nullptr);
	}
};

IMPLEMENT_MODULE(FEmoRigEditorModule, EmoRigEditor)

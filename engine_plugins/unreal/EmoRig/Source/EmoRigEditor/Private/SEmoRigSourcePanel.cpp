#include "SEmoRigSourcePanel.h"

#include "DetailsViewArgs.h"
#include "EmoRigSourceFactory.h"
#include "IStructureDetailsView.h"
#include "Modules/ModuleManager.h"
#include "PropertyEditorModule.h"
#include "UObject/StructOnScope.h"
#include "Widgets/Input/SButton.h"
#include "Widgets/SBoxPanel.h"

#define LOCTEXT_NAMESPACE "SEmoRigSourcePanel"

void SEmoRigSourcePanel::Construct(const FArguments& Args)
{
	OnSourceCreated = Args._OnSourceCreated;
	Settings = MakeShared<FStructOnScope>(FEmoRigConnectionSettings::StaticStruct());

	FDetailsViewArgs DetailsArgs;
	DetailsArgs.bAllowSearch = false;
	DetailsArgs.bShowScrollBar = false;
	FPropertyEditorModule& PropertyEditor = FModuleManager::LoadModuleChecked<FPropertyEditorModule>(TEXT("PropertyEditor"));
	DetailsView = PropertyEditor.CreateStructureDetailView(DetailsArgs, FStructureDetailsViewArgs(), Settings);

	ChildSlot
	[
		SNew(SVerticalBox)
		+ SVerticalBox::Slot()
		.FillHeight(1.0f)
		[
			DetailsView->GetWidget().ToSharedRef()
		]
		+ SVerticalBox::Slot()
		.AutoHeight()
		.HAlign(HAlign_Right)
		[
			SNew(SButton)
			.Text(LOCTEXT("Add", "Add"))
			.ToolTipText(LOCTEXT("AddTooltip", "Start listening with these settings (they can be changed later in the source's details)"))
			.OnClicked(this, &SEmoRigSourcePanel::OnAddClicked)
		]
	];
}

FReply SEmoRigSourcePanel::OnAddClicked()
{
	const FEmoRigConnectionSettings* Chosen = reinterpret_cast<const FEmoRigConnectionSettings*>(Settings->GetStructMemory());
	UEmoRigSourceFactory::CreateSourceFromSettings(*Chosen, OnSourceCreated);
	return FReply::Handled();
}

#undef LOCTEXT_NAMESPACE
